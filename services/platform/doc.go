// Package platform is the root of Kizuna's small shared plumbing module.
//
// The module holds only infrastructure every service needs in the same
// shape: sqldb (SQLite/PostgreSQL behind database/sql), bus (NATS
// JetStream), auth (workspace API keys at the gRPC boundary), grpcserver and
// grpcclient, telemetry, config, servicecmd, and the test helpers grpctest,
// sqldbtest, bustest and testenv. Domain code is never shared through it.
package platform
