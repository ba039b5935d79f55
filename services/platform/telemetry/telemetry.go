// Package telemetry wires OpenTelemetry (traces and metrics over OTLP, W3C
// propagation), the Prometheus /metrics endpoint and structured logs that
// carry the trace id, once per process in main.
package telemetry

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetricgrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
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
	// Empty exports no traces and no OTLP metrics; Prometheus metrics are
	// always collected.
	OTLPEndpoint string
}

// Telemetry is what Setup installed.
type Telemetry struct {
	metrics  http.Handler
	shutdown func(context.Context) error
}

// MetricsHandler serves every OpenTelemetry metric of the process, with Go
// runtime and process metrics, in the Prometheus exposition format.
func (t *Telemetry) MetricsHandler() http.Handler { return t.metrics }

// Shutdown flushes and stops the providers Setup installed.
func (t *Telemetry) Shutdown(ctx context.Context) error { return t.shutdown(ctx) }

// Setup installs the global propagator (W3C TraceContext + Baggage), a
// global meter provider read by a Prometheus exporter (and by OTLP when
// OTLPEndpoint is set) and, with OTLPEndpoint, a global tracer provider
// exporting to it. The otel globals are the one process-wide state Kizuna
// accepts: instrumentation libraries read them. Call Shutdown before exit to
// flush.
func Setup(ctx context.Context, opts Options) (*Telemetry, error) {
	otel.SetTextMapPropagator(propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}))
	// Plain attribute rather than a semconv package: its schema URL would
	// have to match the SDK's default resource on every upgrade.
	res, err := resource.New(ctx,
		resource.WithFromEnv(), resource.WithTelemetrySDK(), resource.WithHost(),
		resource.WithAttributes(attribute.String("service.name", opts.ServiceName)))
	if err != nil {
		return nil, fmt.Errorf("telemetry: resource: %w", err)
	}

	// A registry of our own rather than prometheus.DefaultRegisterer: a
	// second Setup in one process (tests) must not fail on duplicates.
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	promExp, err := otelprom.New(otelprom.WithRegisterer(reg))
	if err != nil {
		return nil, fmt.Errorf("telemetry: prometheus exporter: %w", err)
	}
	readers := []sdkmetric.Option{sdkmetric.WithResource(res), sdkmetric.WithReader(promExp)}
	var tp *sdktrace.TracerProvider
	if opts.OTLPEndpoint != "" {
		traceExp, err := otlptracegrpc.New(ctx, otlptracegrpc.WithEndpoint(opts.OTLPEndpoint), otlptracegrpc.WithInsecure())
		if err != nil {
			return nil, fmt.Errorf("telemetry: trace exporter: %w", err)
		}
		metricExp, err := otlpmetricgrpc.New(ctx, otlpmetricgrpc.WithEndpoint(opts.OTLPEndpoint), otlpmetricgrpc.WithInsecure())
		if err != nil {
			_ = traceExp.Shutdown(ctx)
			return nil, fmt.Errorf("telemetry: metric exporter: %w", err)
		}
		readers = append(readers, sdkmetric.WithReader(sdkmetric.NewPeriodicReader(metricExp)))
		tp = sdktrace.NewTracerProvider(sdktrace.WithBatcher(traceExp), sdktrace.WithResource(res))
		otel.SetTracerProvider(tp)
	}
	mp := sdkmetric.NewMeterProvider(readers...)
	otel.SetMeterProvider(mp)
	return &Telemetry{
		metrics: promhttp.HandlerFor(reg, promhttp.HandlerOpts{}),
		shutdown: func(ctx context.Context) error {
			err := mp.Shutdown(ctx)
			if tp != nil {
				err = errors.Join(err, tp.Shutdown(ctx))
			}
			return err
		},
	}, nil
}
