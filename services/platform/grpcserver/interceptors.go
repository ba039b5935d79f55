package grpcserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/kizuna/kizuna/services/platform/auth"
	"github.com/kizuna/kizuna/services/platform/internal/streamctx"
)

// rpcRecord is filled by inner interceptors for the logging interceptor,
// which cannot see contexts derived after it.
type rpcRecord struct {
	workspaceID string
}

type rpcRecordKey struct{}

func unaryLogging(logger *slog.Logger) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		rec := &rpcRecord{}
		start := time.Now()
		resp, err := handler(context.WithValue(ctx, rpcRecordKey{}, rec), req)
		logRPC(ctx, logger, info.FullMethod, start, rec, err)
		return resp, err
	}
}

func streamLogging(logger *slog.Logger) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		rec := &rpcRecord{}
		start := time.Now()
		ctx := ss.Context()
		err := handler(srv, streamctx.Wrap(ss, context.WithValue(ctx, rpcRecordKey{}, rec)))
		logRPC(ctx, logger, info.FullMethod, start, rec, err)
		return err
	}
}

// logRPC writes the one line per RPC. Handlers return errors without
// logging them; this is where they are logged, once.
func logRPC(ctx context.Context, logger *slog.Logger, method string, start time.Time, rec *rpcRecord, err error) {
	code := status.Code(err)
	attrs := []slog.Attr{
		slog.String("method", method),
		slog.String("code", code.String()),
		slog.Duration("duration", time.Since(start)),
	}
	if rec.workspaceID != "" {
		attrs = append(attrs, slog.String("workspace_id", rec.workspaceID))
	}
	if err != nil {
		attrs = append(attrs, slog.String("error", err.Error()))
	}
	var pe *panicError
	if errors.As(err, &pe) {
		attrs = append(attrs, slog.String("stack", pe.stack))
	}
	level := slog.LevelInfo
	switch {
	case isServerFault(code):
		level = slog.LevelError
	case strings.HasPrefix(method, "/grpc.health.v1.Health/"):
		level = slog.LevelDebug // probes every few seconds would drown the log
	}
	logger.LogAttrs(ctx, level, "rpc", attrs...)
}

// isServerFault reports codes that indicate a bug or outage on our side
// rather than a bad request.
func isServerFault(c codes.Code) bool {
	switch c {
	case codes.Unknown, codes.Internal, codes.DataLoss, codes.Unavailable, codes.Unimplemented:
		return true
	}
	return false
}

// panicError reports a recovered panic to the client as a generic Internal
// error while carrying the value and stack to the log line.
type panicError struct {
	value any
	stack string
}

func (e *panicError) Error() string { return fmt.Sprintf("panic: %v", e.value) }
func (e *panicError) GRPCStatus() *status.Status {
	return status.New(codes.Internal, "internal error")
}

func unaryRecovery() grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (resp any, err error) {
		defer func() {
			if p := recover(); p != nil {
				resp, err = nil, &panicError{value: p, stack: string(debug.Stack())}
			}
		}()
		return handler(ctx, req)
	}
}

func streamRecovery() grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) (err error) {
		defer func() {
			if p := recover(); p != nil {
				err = &panicError{value: p, stack: string(debug.Stack())}
			}
		}()
		return handler(srv, ss)
	}
}

func recordWorkspace(ctx context.Context) {
	rec, ok := ctx.Value(rpcRecordKey{}).(*rpcRecord)
	if !ok {
		return
	}
	if ws, ok := auth.WorkspaceID(ctx); ok {
		rec.workspaceID = ws
	}
}

func unaryRecordWorkspace() grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		recordWorkspace(ctx)
		return handler(ctx, req)
	}
}

func streamRecordWorkspace() grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		recordWorkspace(ss.Context())
		return handler(srv, ss)
	}
}
