// Package streamctx lets server interceptors hand a streaming handler a
// derived context, as unary interceptors do by passing ctx along.
package streamctx

import (
	"context"

	"google.golang.org/grpc"
)

// Wrap returns ss with Context replaced by ctx.
func Wrap(ss grpc.ServerStream, ctx context.Context) grpc.ServerStream {
	return &stream{ServerStream: ss, ctx: ctx}
}

type stream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s *stream) Context() context.Context { return s.ctx }
