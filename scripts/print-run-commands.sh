#!/usr/bin/env bash
# Printed by `make run` before the plugin starts: two commands to paste into another terminal.
RUN_DIR=$1
CFG="provider: file\\nroot: $RUN_DIR/data"
cat <<EOT

  argo-artifact-plugin: serving on $RUN_DIR/plugin.sock, file store under $RUN_DIR/data
  Ctrl-C stops it.  In another terminal:

  # JSON over HTTP/2 with curl: save this README as an artifact, then list what is stored
  curl -sS --http2-prior-knowledge --unix-socket $RUN_DIR/plugin.sock \\
    http://localhost/api/v1/artifacts/save \\
    -d '{"path": "$PWD/README.md", "outputArtifact": {"name": "readme", "plugin": {"configuration": "$CFG", "key": "demo/README.md"}}}'
  curl -sS --http2-prior-knowledge --unix-socket $RUN_DIR/plugin.sock \\
    http://localhost/api/v1/artifacts/list \\
    -d '{"artifact": {"name": "demo", "plugin": {"configuration": "$CFG", "key": "demo"}}}'

  # gRPC, as Argo calls it, with Python grpcio: stream the artifact back to stdout
  # (its Python packages are in the project venv: 'make venv' once, or after 'make test')
  $PWD/.venv/bin/python $PWD/scripts/grpc-client.py --socket $RUN_DIR/plugin.sock --root $RUN_DIR/data stream demo/README.md

EOT
