# One image holding every Kizuna binary: the all-in-one `kizuna` (the
# default command) and the five services, which the Helm chart runs one per
# Deployment (`command: [ingestion]` …).
#
#   make image                     # docker build -t kizuna:dev .
#   docker run --rm -p 8080:8080 kizuna:dev
#
# Static binaries (CGO off: the SQLite driver is pure Go) on distroless
# static: CA certificates, time zone data and a non-root user, no shell.
FROM golang:1.26 AS build
WORKDIR /src
# Modules first, so the download layer is reused until a go.mod or go.sum
# changes. go.work lists every module, so all of them are needed.
COPY go.work go.work.sum ./
COPY gen/go.mod gen/go.sum gen/
COPY services/analytics/go.mod services/analytics/go.sum services/analytics/
COPY services/campaign/go.mod services/campaign/go.sum services/campaign/
COPY services/gateway/go.mod services/gateway/go.sum services/gateway/
COPY services/ingestion/go.mod services/ingestion/go.sum services/ingestion/
COPY services/metrics/go.mod services/metrics/go.sum services/metrics/
COPY services/platform/go.mod services/platform/go.sum services/platform/
COPY services/segmentation/go.mod services/segmentation/go.sum services/segmentation/
COPY services/suite/go.mod services/suite/go.sum services/suite/
# deploy/helmcheck (the chart's test, with Helm and the Kubernetes API as
# dependencies) is no part of any binary: leave it out of the workspace.
RUN go work edit -dropuse=./deploy/helmcheck && go mod download
COPY . .
ENV CGO_ENABLED=0
RUN go work edit -dropuse=./deploy/helmcheck && mkdir -p /out /data && go build -trimpath -ldflags "-s -w" -o /out/ \
	./services/suite/cmd/kizuna \
	./services/ingestion/cmd/ingestion \
	./services/segmentation/cmd/segmentation \
	./services/metrics/cmd/metrics \
	./services/campaign/cmd/campaign \
	./services/gateway/cmd/gateway

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/ /usr/local/bin/
# The all-in-one binary's SQLite files and NATS store; mount a volume here
# to keep them. The services keep nothing on disk.
COPY --from=build --chown=65532:65532 /data /data
USER 65532:65532
WORKDIR /data
ENV KIZUNA_DATA_DIR=/data \
	KIZUNA_HTTP_ADDR=:8080
# REST (gateway and all-in-one), gRPC of the four services, Prometheus.
EXPOSE 8080 50051 50052 50053 50054 9090
CMD ["kizuna"]
