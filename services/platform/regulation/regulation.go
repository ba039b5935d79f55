// Package regulation is how a service reports back that it applied a
// data-rights regulation (ingestion's RegulationRequested): one
// RegulationApplied on the regulations stream, which ingestion records as
// that service's part done.
package regulation

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	ingestionv1 "github.com/kizuna/kizuna/gen/kizuna/ingestion/v1"
	"github.com/kizuna/kizuna/services/platform/bus"
)

// Report publishes that service applied req, affecting rows rows. The bus
// message id is the regulation and the service, so a redelivered request
// applied again reports once within the duplicate window, and ingestion
// ignores a repeated report anyway.
func Report(ctx context.Context, b *bus.Bus, service string, req *ingestionv1.RegulationRequested, rows int64, now time.Time) error {
	ws := req.GetWorkspaceId()
	msg := &ingestionv1.RegulationApplied{
		RegulationId: req.GetRegulationId(), WorkspaceId: ws, Service: service, AffectedRows: rows, ApplyTime: timestamppb.New(now),
	}
	if err := b.Publish(ctx, b.Subject(bus.KindRegulations, ws, service), ws+"/"+req.GetRegulationId()+"/"+service, msg); err != nil {
		return fmt.Errorf("report regulation %s: %w", req.GetRegulationId(), err)
	}
	return nil
}

// Erases reports whether req deletes data (DELETE); SUPPRESS and
// UNSUPPRESS change only whether the person may be contacted.
func Erases(req *ingestionv1.RegulationRequested) bool {
	return req.GetType() == ingestionv1.RegulationType_DELETE
}

// ErasedKey is what a service keeps of a customer id it erased, to drop
// the person's events delivered after the erasure: the SHA-256 of the id,
// in hex, so that no table but the regulation record keeps the id in the
// clear (as ingestion keeps the ids of the suppressed).
func ErasedKey(customerID string) string {
	sum := sha256.Sum256([]byte(customerID))
	return hex.EncodeToString(sum[:])
}
