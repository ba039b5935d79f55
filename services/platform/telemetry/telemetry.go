// Package telemetry wires OpenTelemetry (traces and metrics over OTLP, W3C
// propagation) and structured logs that carry the trace id, once per
// process in main.
package telemetry

import (
	"context"
	"errors"
	"fmt"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetricgrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// Options configures Setup.
type Options struct {
	// ServiceName becomes the service.name resource attribute.
	ServiceName string
	// OTLPEndpoint is a host:port of an OTLP/gRPC collector (plaintext).
	// Empty keeps the no-op providers: nothing is exported.
	OTLPEndpoint string
}

// Setup installs the global propagator (W3C TraceContext + Baggage, always)
// and, when OTLPEndpoint is set, global tracer and meter providers that
// export to it. The otel globals are the one process-wide state Kizuna
// accepts: instrumentation libraries read them. Call shutdown before exit to
// flush.
func Setup(ctx context.Context, opts Options) (shutdown func(context.Context) error, err error) {
	otel.SetTextMapPropagator(propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}))
	if opts.OTLPEndpoint == "" {
		return func(context.Context) error { return nil }, nil
	}
	// Plain attribute rather than a semconv package: its schema URL would
	// have to match the SDK's default resource on every upgrade.
	res, err := resource.New(ctx,
		resource.WithFromEnv(), resource.WithTelemetrySDK(), resource.WithHost(),
		resource.WithAttributes(attribute.String("service.name", opts.ServiceName)))
	if err != nil {
		return nil, fmt.Errorf("telemetry: resource: %w", err)
	}
	traceExp, err := otlptracegrpc.New(ctx, otlptracegrpc.WithEndpoint(opts.OTLPEndpoint), otlptracegrpc.WithInsecure())
	if err != nil {
		return nil, fmt.Errorf("telemetry: trace exporter: %w", err)
	}
	metricExp, err := otlpmetricgrpc.New(ctx, otlpmetricgrpc.WithEndpoint(opts.OTLPEndpoint), otlpmetricgrpc.WithInsecure())
	if err != nil {
		_ = traceExp.Shutdown(ctx)
		return nil, fmt.Errorf("telemetry: metric exporter: %w", err)
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(traceExp), sdktrace.WithResource(res))
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewPeriodicReader(metricExp)), sdkmetric.WithResource(res))
	otel.SetTracerProvider(tp)
	otel.SetMeterProvider(mp)
	return func(ctx context.Context) error {
		return errors.Join(tp.Shutdown(ctx), mp.Shutdown(ctx))
	}, nil
}
