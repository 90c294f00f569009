// grpcgo-client calls the artifact plugin over gRPC with grpc-go, the way Argo's own
// plugin driver (workflow/artifacts/plugin) does: a context dialer on the Unix socket,
// insecure transport, a 5 s wait for the connection to become Ready, grpc-go's default
// 4 MiB receive limit, OpenStream read until is_end, SaveStream in 2 MiB chunks.
//
// Usage: grpcgo-client [-socket PATH] [-config TEXT] [-timeout SECONDS] COMMAND ARGS...
//
//	capabilities
//	save PATH KEY
//	load KEY PATH
//	stream KEY OUTFILE
//	save-stream PATH KEY
//	list KEY
//	is-directory KEY
//	delete KEY
//	concurrent N KEY_PREFIX PATH
//
// Every command prints exactly one JSON object on stdout ("ok" plus command-specific
// fields, "error" on failure) and exits 0 on success, 1 on failure, 2 on bad usage.
package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/connectivity"

	pb "artifact"
)

// Argo's SaveStream chunk size.
const saveStreamChunkSize = 2 * 1024 * 1024

var (
	socketPath     = flag.String("socket", "", "plugin Unix socket path")
	config         = flag.String("config", "", "plugin.configuration text (YAML), e.g. \"provider: file\\nroot: /abs/dir\\n\"")
	timeoutSeconds = flag.Float64("timeout", 600, "deadline of each call, in seconds")
	connectTimeout = flag.Float64("connect-timeout", 5, "how long to wait for the connection to become Ready, in seconds")
	pluginName     = flag.String("plugin-name", "test", "PluginArtifact.name")
)

type result map[string]interface{}

func emit(r result) {
	b, err := json.Marshal(r)
	if err != nil {
		b = []byte(fmt.Sprintf(`{"ok":false,"error":%q}`, err.Error()))
	}
	os.Stdout.Write(append(b, '\n'))
}

// fail prints the failure as JSON (merged with any partial result) and exits 1.
func fail(r result, err error) {
	if r == nil {
		r = result{}
	}
	r["ok"] = false
	r["error"] = err.Error()
	fmt.Fprintln(os.Stderr, "grpcgo-client:", err)
	emit(r)
	os.Exit(1)
}

func succeed(r result) {
	r["ok"] = true
	emit(r)
	os.Exit(0)
}

func usage(msg string) {
	fmt.Fprintln(os.Stderr, "grpcgo-client:", msg)
	flag.Usage()
	emit(result{"ok": false, "error": "usage: " + msg})
	os.Exit(2)
}

func art(key string) *pb.Artifact {
	return &pb.Artifact{
		Name:   "art",
		Plugin: &pb.PluginArtifact{Name: *pluginName, Configuration: *config, Key: key},
	}
}

func seconds(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

func callCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), seconds(*timeoutSeconds))
}

// dial connects like Argo's NewDriver: context dialer on "unix", insecure, then wait
// (up to -connect-timeout) for the ClientConn to reach Ready. grpc 1.33 has no unix
// resolver and no ClientConn.Connect; Dial starts connecting on its own.
func dial() (*grpc.ClientConn, error) {
	sock := *socketPath
	conn, err := grpc.Dial("passthrough:///unix",
		grpc.WithInsecure(),
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) {
			d := &net.Dialer{Timeout: seconds(*connectTimeout)}
			return d.DialContext(ctx, "unix", sock)
		}),
	)
	if err != nil {
		return nil, fmt.Errorf("dial %q: %w", sock, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), seconds(*connectTimeout))
	defer cancel()
	for state := conn.GetState(); state != connectivity.Ready; state = conn.GetState() {
		if state == connectivity.Shutdown {
			conn.Close()
			return nil, fmt.Errorf("connection to %q shut down", sock)
		}
		if !conn.WaitForStateChange(ctx, state) {
			last := conn.GetState()
			conn.Close()
			return nil, fmt.Errorf("timeout waiting for connection to %q to become ready, last state: %s", sock, last)
		}
	}
	return conn, nil
}

// --- operations (shared by the single commands and `concurrent`) -------------------------

func doSave(c pb.ArtifactServiceClient, path, key string) error {
	ctx, cancel := callCtx()
	defer cancel()
	r, err := c.Save(ctx, &pb.SaveArtifactRequest{Path: path, OutputArtifact: art(key)})
	if err != nil {
		return fmt.Errorf("save failed: %w", err)
	}
	if !r.Success {
		return fmt.Errorf("save failed: %s", r.Error)
	}
	return nil
}

func doLoad(c pb.ArtifactServiceClient, key, path string) error {
	ctx, cancel := callCtx()
	defer cancel()
	r, err := c.Load(ctx, &pb.LoadArtifactRequest{InputArtifact: art(key), Path: path})
	if err != nil {
		return fmt.Errorf("load failed: %w", err)
	}
	if !r.Success {
		return fmt.Errorf("load failed: %s", r.Error)
	}
	return nil
}

type streamStats struct {
	Complete bool // saw is_end
	Messages int  // every message received, the is_end one included
	MaxChunk int  // largest data field
	Bytes    int64
}

func (s streamStats) result() result {
	return result{"complete": s.Complete, "messages": s.Messages, "max_chunk": s.MaxChunk, "bytes": s.Bytes}
}

// doStream reads OpenStream as Argo does: stop at is_end, a non-empty error fails the
// read, data goes to w. Unlike Argo (which treats a bare EOF as the end), an EOF before
// is_end is reported as an incomplete stream.
func doStream(c pb.ArtifactServiceClient, key string, w io.Writer) (streamStats, error) {
	var st streamStats
	ctx, cancel := callCtx()
	defer cancel()
	stream, err := c.OpenStream(ctx, &pb.OpenStreamRequest{Artifact: art(key)})
	if err != nil {
		return st, fmt.Errorf("open stream failed: %w", err)
	}
	for {
		resp, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return st, fmt.Errorf("stream ended (EOF, status OK) without an is_end message after %d messages, %d bytes", st.Messages, st.Bytes)
		}
		if err != nil {
			return st, fmt.Errorf("stream receive failed: %w", err)
		}
		st.Messages++
		if len(resp.Data) > st.MaxChunk {
			st.MaxChunk = len(resp.Data)
		}
		if resp.Error != "" {
			return st, fmt.Errorf("stream error: %s", resp.Error)
		}
		if len(resp.Data) > 0 {
			if _, err := w.Write(resp.Data); err != nil {
				return st, fmt.Errorf("stream write failed: %w", err)
			}
			st.Bytes += int64(len(resp.Data))
		}
		if resp.IsEnd {
			st.Complete = true
			return st, nil
		}
	}
}

// doSaveStream sends like Argo's Driver.SaveStream: first frame output_artifact only,
// then 2 MiB chunk frames, then CloseAndRecv. A failed Send is resolved via CloseAndRecv
// (grpc-go reports io.EOF from Send once the server has ended the call).
func doSaveStream(c pb.ArtifactServiceClient, path, key string) (result, error) {
	r := result{"frames": 0, "bytes": int64(0)}
	f, err := os.Open(path)
	if err != nil {
		return r, err
	}
	defer f.Close()
	ctx, cancel := callCtx()
	defer cancel()
	stream, err := c.SaveStream(ctx)
	if err != nil {
		return r, fmt.Errorf("save stream failed to open: %w", err)
	}
	frames, sent := 0, int64(0)
	defer func() { r["frames"], r["bytes"] = frames, sent }()
	send := func(req *pb.SaveStreamArtifactRequest, action string) error {
		if err := stream.Send(req); err != nil {
			resp, rerr := stream.CloseAndRecv()
			if rerr != nil {
				return fmt.Errorf("save stream failed %s: %w", action, rerr)
			}
			// The server ended the call with status OK before reading every frame. Argo
			// stops here too and returns exactly this error, dropping resp; we record it
			// separately so the report shows what the plugin had to say.
			r["early_response"] = result{"success": resp.GetSuccess(), "error": resp.GetError()}
			return fmt.Errorf("save stream failed %s: %w", action, err)
		}
		frames++
		return nil
	}
	if err := send(&pb.SaveStreamArtifactRequest{OutputArtifact: art(key)}, "to send metadata"); err != nil {
		return r, err
	}
	buf := make([]byte, saveStreamChunkSize)
	for {
		n, rerr := io.ReadFull(f, buf)
		if n > 0 {
			chunk := make([]byte, n)
			copy(chunk, buf[:n])
			if err := send(&pb.SaveStreamArtifactRequest{Chunk: chunk}, "mid-transfer"); err != nil {
				return r, err
			}
			sent += int64(n)
		}
		if rerr == io.EOF || rerr == io.ErrUnexpectedEOF {
			break
		}
		if rerr != nil {
			return r, fmt.Errorf("save stream failed to read %s: %w", path, rerr)
		}
	}
	resp, err := stream.CloseAndRecv()
	if err != nil {
		return r, fmt.Errorf("save stream failed: %w", err)
	}
	if !resp.Success {
		return r, fmt.Errorf("save stream failed: %s", resp.Error)
	}
	r["success"] = true
	return r, nil
}

func fileSHA(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// concurrent: n goroutines on one shared ClientConn, each Save -> Load -> OpenStream of
// its own key PREFIX/i, each checking that what comes back equals PATH byte for byte.
func doConcurrent(c pb.ArtifactServiceClient, n int, prefix, path string) result {
	want, err := fileSHA(path)
	if err != nil {
		fail(nil, err)
	}
	tmp, err := os.MkdirTemp("", "grpcgo-concurrent-")
	if err != nil {
		fail(nil, err)
	}
	defer os.RemoveAll(tmp)

	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			<-start
			key := fmt.Sprintf("%s/%d", prefix, i)
			if err := doSave(c, path, key); err != nil {
				errs[i] = fmt.Errorf("%s: %w", key, err)
				return
			}
			out := filepath.Join(tmp, strconv.Itoa(i))
			if err := doLoad(c, key, out); err != nil {
				errs[i] = fmt.Errorf("%s: %w", key, err)
				return
			}
			if got, err := fileSHA(out); err != nil || got != want {
				errs[i] = fmt.Errorf("%s: loaded file differs from source (sha %s, err %v)", key, got, err)
				return
			}
			h := sha256.New()
			st, err := doStream(c, key, h)
			if err != nil {
				errs[i] = fmt.Errorf("%s: %w", key, err)
				return
			}
			if got := hex.EncodeToString(h.Sum(nil)); !st.Complete || got != want {
				errs[i] = fmt.Errorf("%s: streamed bytes differ from source (complete %v, %d bytes)", key, st.Complete, st.Bytes)
			}
		}(i)
	}
	close(start)
	wg.Wait()

	failed := []string{}
	for _, e := range errs {
		if e != nil {
			failed = append(failed, e.Error())
		}
	}
	return result{"n": n, "succeeded": n - len(failed), "failed": failed}
}

// -----------------------------------------------------------------------------------------

func main() {
	flag.Usage = func() {
		fmt.Fprintf(os.Stderr, "usage: grpcgo-client [flags] capabilities | save PATH KEY | load KEY PATH | stream KEY OUTFILE |\n"+
			"       save-stream PATH KEY | list KEY | is-directory KEY | delete KEY | concurrent N KEY_PREFIX PATH\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	args := flag.Args()
	if len(args) == 0 {
		usage("no command")
	}
	if *socketPath == "" {
		usage("-socket is required")
	}
	cmd, args := args[0], args[1:]
	nargs := map[string]int{"capabilities": 0, "save": 2, "load": 2, "stream": 2, "save-stream": 2,
		"list": 1, "is-directory": 1, "delete": 1, "concurrent": 3}
	want, known := nargs[cmd]
	if !known {
		usage("unknown command " + strconv.Quote(cmd))
	}
	if len(args) != want {
		usage(fmt.Sprintf("%s takes %d argument(s), got %d", cmd, want, len(args)))
	}
	abs := func(p string) string {
		if a, err := filepath.Abs(p); err == nil {
			return a
		}
		return p
	}

	conn, err := dial()
	if err != nil {
		fail(nil, err)
	}
	defer conn.Close()
	c := pb.NewArtifactServiceClient(conn)

	switch cmd {
	case "capabilities":
		ctx, cancel := callCtx()
		defer cancel()
		r, err := c.GetCapabilities(ctx, &pb.GetCapabilitiesRequest{})
		if err != nil {
			fail(nil, fmt.Errorf("get capabilities failed: %w", err))
		}
		succeed(result{"supports_save_stream": r.SupportsSaveStream})

	case "save":
		if err := doSave(c, abs(args[0]), args[1]); err != nil {
			fail(nil, err)
		}
		succeed(result{"success": true})

	case "load":
		if err := doLoad(c, args[0], abs(args[1])); err != nil {
			fail(nil, err)
		}
		succeed(result{"success": true})

	case "stream":
		f, err := os.Create(args[1])
		if err != nil {
			fail(nil, err)
		}
		st, err := doStream(c, args[0], f)
		if cerr := f.Close(); err == nil && cerr != nil {
			err = cerr
		}
		if err != nil {
			fail(st.result(), err)
		}
		succeed(st.result())

	case "save-stream":
		r, err := doSaveStream(c, abs(args[0]), args[1])
		if err != nil {
			fail(r, err)
		}
		succeed(r)

	case "list":
		ctx, cancel := callCtx()
		defer cancel()
		r, err := c.ListObjects(ctx, &pb.ListObjectsRequest{Artifact: art(args[0])})
		if err != nil {
			fail(nil, fmt.Errorf("list objects failed: %w", err))
		}
		if r.Error != "" {
			fail(nil, fmt.Errorf("list objects failed: %s", r.Error))
		}
		objects := r.Objects
		if objects == nil {
			objects = []string{}
		}
		succeed(result{"objects": objects})

	case "is-directory":
		ctx, cancel := callCtx()
		defer cancel()
		r, err := c.IsDirectory(ctx, &pb.IsDirectoryRequest{Artifact: art(args[0])})
		if err != nil {
			fail(nil, fmt.Errorf("is directory check failed: %w", err))
		}
		if r.Error != "" {
			fail(nil, fmt.Errorf("is directory check failed: %s", r.Error))
		}
		succeed(result{"is_directory": r.IsDirectory})

	case "delete":
		ctx, cancel := callCtx()
		defer cancel()
		r, err := c.Delete(ctx, &pb.DeleteArtifactRequest{Artifact: art(args[0])})
		if err != nil {
			fail(nil, fmt.Errorf("delete failed: %w", err))
		}
		if !r.Success {
			fail(nil, fmt.Errorf("delete failed: %s", r.Error))
		}
		succeed(result{"success": true})

	case "concurrent":
		n, err := strconv.Atoi(args[0])
		if err != nil || n < 1 {
			usage("concurrent N: N must be a positive integer")
		}
		r := doConcurrent(c, n, args[1], abs(args[2]))
		if failed := r["failed"].([]string); len(failed) > 0 {
			fail(r, fmt.Errorf("%d of %d workers failed; first: %s", len(failed), n, failed[0]))
		}
		succeed(r)
	}
}
