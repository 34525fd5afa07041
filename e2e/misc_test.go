package e2e

import (
	"io"
	"log/slog"
	"path/filepath"
	"testing"

	"google.golang.org/grpc"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"

	"github.com/stepup/stepup/server/daemon"
)

type grpcClientConn = grpc.ClientConn

// startSecond tries to start another daemon on e's data directory.
func startSecond(e *env) (*daemon.Daemon, error) {
	d, err := daemon.Start(daemon.Options{
		Listen:  "127.0.0.1:0",
		DataDir: e.dataDir,
		Logger:  slog.New(slog.NewTextHandler(io.Discard, nil)),
		Server:  serverConfig(e.clock),
	})
	if err == nil {
		d.Close(0)
	}
	return d, err
}

func adminConn(e *env) *grpc.ClientConn {
	return dial(e.t, "unix://"+filepath.Join(e.dataDir, daemon.AdminSocket))
}

// listServices asks the server's reflection service what it serves, as grpcurl does.
func listServices(t *testing.T, conn *grpc.ClientConn) []string {
	t.Helper()
	stream, err := reflectionpb.NewServerReflectionClient(conn).ServerReflectionInfo(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	err = stream.Send(&reflectionpb.ServerReflectionRequest{
		MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{}})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := stream.Recv()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range resp.GetListServicesResponse().GetService() {
		names = append(names, s.GetName())
	}
	return names
}
