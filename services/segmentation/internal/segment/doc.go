// Package segment is the segmentation domain: segment definitions (rules
// over traits, behaviour in time windows and RFM scores), the per-customer
// facts rules are evaluated on, and the Engine that keeps membership current
// as events arrive, as time passes and as segments are created.
//
// The package knows nothing about gRPC, protobuf or NATS: the service's
// internal/api package and its public package translate at the edges, and
// storage sits behind the Store interface (implemented by internal/store).
package segment
