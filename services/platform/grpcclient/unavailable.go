package grpcclient

import (
	"context"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// UnavailableError is what a call that could not reach its service returns.
// The client sees Unavailable with a plain message naming the gRPC service;
// the transport's own message ("connection error: … dial tcp 10.0.3.7:50052
// …") names internal addresses, so it stays in Error() for the log only.
type UnavailableError struct {
	// Service is the gRPC service called ("kizuna.segmentation.v1.SegmentService").
	Service string
	cause   error
}

func (e *UnavailableError) message() string {
	if e.Service == "" {
		return "a Kizuna service is unavailable; try again later"
	}
	return e.Service + " is unavailable; try again later"
}

func (e *UnavailableError) Error() string { return e.message() + ": " + e.cause.Error() }
func (e *UnavailableError) Unwrap() error { return e.cause }

// GRPCStatus is how grpc-go and grpc-gateway find the client-facing status.
func (e *UnavailableError) GRPCStatus() *status.Status {
	return status.New(codes.Unavailable, e.message())
}

// hideUnavailable replaces any Unavailable error with an *UnavailableError.
func hideUnavailable(method string, err error) error {
	if err == nil || status.Code(err) != codes.Unavailable {
		return err
	}
	// "/kizuna.segmentation.v1.SegmentService/GetSegment" → the service.
	svc, _, _ := strings.Cut(strings.TrimPrefix(method, "/"), "/")
	return &UnavailableError{Service: svc, cause: err}
}

func unavailableUnaryInterceptor() grpc.UnaryClientInterceptor {
	return func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		return hideUnavailable(method, invoker(ctx, method, req, reply, cc, opts...))
	}
}

func unavailableStreamInterceptor() grpc.StreamClientInterceptor {
	return func(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
		s, err := streamer(ctx, desc, cc, method, opts...)
		return s, hideUnavailable(method, err)
	}
}
