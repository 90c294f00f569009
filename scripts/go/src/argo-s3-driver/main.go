// argo-s3-driver: the calls Argo's own S3 artifact driver makes (workflow/artifacts/s3/s3.go,
// minio-go v7), as a command, so `make bench` can put what a user has without the plugin beside
// it. Written from the driver's behaviour, not its code:
//   put FILE KEY      FPutObject with SendContentMd5, ConcurrentStreamParts, NumThreads 4
//   putdir DIR PREFIX one FPutObject per file, in walk order (the driver's PutDirectory)
//   get KEY FILE      FGetObject
//   stream KEY        GetObject, copied to a discard sink (argo-server's OpenStream)
//   ssec-key SECRET SALT  the SSE-C key Argo's driver derives (encrypt.DefaultPBKDF), base64
// Environment: S3_ENDPOINT (host:port), S3_BUCKET, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
// S3_REGION; plain HTTP, path-style addressing (as the bench's store). SSEC_SECRET: the value of
// encryptionOptions.serverSideCustomerKeySecret; every put and get then carries the SSE-C key
// derived from it and bucket + key, as the driver's buildServerSideEnc does.
package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"encoding/base64"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/minio/minio-go/v7/pkg/encrypt"
)

// sse: the driver's SSE-C for one object (nil without SSEC_SECRET).
func sse(bucket, key string) encrypt.ServerSide {
	secret := os.Getenv("SSEC_SECRET")
	if secret == "" {
		return nil
	}
	return encrypt.DefaultPBKDF([]byte(secret), []byte(bucket+key))
}

func fail(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "argo-s3-driver: "+format+"\n", args...)
	os.Exit(1)
}

func putOptions(bucket, key string) minio.PutObjectOptions {
	return minio.PutObjectOptions{SendContentMd5: true, ConcurrentStreamParts: true, NumThreads: 4, ServerSideEncryption: sse(bucket, key)}
}

func main() {
	if len(os.Args) < 3 {
		fail("usage: put FILE KEY | putdir DIR PREFIX | get KEY FILE | stream KEY | ssec-key SECRET SALT")
	}
	if os.Args[1] == "ssec-key" && len(os.Args) == 4 {
		var key [32]byte
		h := http.Header{}
		encrypt.DefaultPBKDF([]byte(os.Args[2]), []byte(os.Args[3])).Marshal(h)
		k, err := base64.StdEncoding.DecodeString(h.Get("X-Amz-Server-Side-Encryption-Customer-Key"))
		if err != nil || len(k) != len(key) {
			fail("ssec-key: %v", err)
		}
		fmt.Println(base64.StdEncoding.EncodeToString(k))
		return
	}
	region := os.Getenv("S3_REGION")
	if region == "" {
		region = "us-east-1"
	}
	client, err := minio.New(os.Getenv("S3_ENDPOINT"), &minio.Options{
		Creds:        credentials.NewStaticV4(os.Getenv("AWS_ACCESS_KEY_ID"), os.Getenv("AWS_SECRET_ACCESS_KEY"), ""),
		Secure:       false,
		Region:       region,
		BucketLookup: minio.BucketLookupPath,
	})
	if err != nil {
		fail("client: %v", err)
	}
	ctx, bucket := context.Background(), os.Getenv("S3_BUCKET")
	switch os.Args[1] {
	case "put":
		if len(os.Args) != 4 {
			fail("usage: put FILE KEY")
		}
		if _, err := client.FPutObject(ctx, bucket, os.Args[3], os.Args[2], putOptions(bucket, os.Args[3])); err != nil {
			fail("put: %v", err)
		}
	case "putdir":
		if len(os.Args) != 4 {
			fail("usage: putdir DIR PREFIX")
		}
		root, prefix := os.Args[2], strings.TrimSuffix(os.Args[3], "/")
		err := filepath.Walk(root, func(path string, info os.FileInfo, err error) error {
			if err != nil || info.IsDir() {
				return err
			}
			rel, err := filepath.Rel(root, path)
			if err != nil {
				return err
			}
			key := prefix + "/" + filepath.ToSlash(rel)
			_, err = client.FPutObject(ctx, bucket, key, path, putOptions(bucket, key))
			return err
		})
		if err != nil {
			fail("putdir: %v", err)
		}
	case "get":
		if len(os.Args) != 4 {
			fail("usage: get KEY FILE")
		}
		if err := client.FGetObject(ctx, bucket, os.Args[2], os.Args[3], minio.GetObjectOptions{ServerSideEncryption: sse(bucket, os.Args[2])}); err != nil {
			fail("get: %v", err)
		}
	case "stream":
		obj, err := client.GetObject(ctx, bucket, os.Args[2], minio.GetObjectOptions{ServerSideEncryption: sse(bucket, os.Args[2])})
		if err != nil {
			fail("stream: %v", err)
		}
		n, err := io.Copy(io.Discard, obj)
		if err != nil {
			fail("stream: %v", err)
		}
		fmt.Println(n)
	default:
		fail("unknown command %q", os.Args[1])
	}
}
