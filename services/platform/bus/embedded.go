package bus

import (
	"fmt"
	"os"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// Options configures StartEmbedded.
type Options struct {
	// StoreDir holds JetStream's files. Empty means a new temporary
	// directory, removed by Shutdown.
	StoreDir string
	// SyncAlways makes JetStream sync its files before acknowledging every
	// published message, so an acknowledged message survives an
	// operating-system crash; by default it syncs every two minutes.
	SyncAlways bool
}

// Embedded is a NATS server with JetStream running inside this process. It
// listens on no port at all: connections are in-process only (Connect with
// ConnectOptions.Embedded), so tests and the all-in-one binary never clash
// over ports. Several services in one process share one Embedded.
type Embedded struct {
	srv     *server.Server
	tempDir string
}

// embeddedReadyTimeout bounds startup; JetStream recovery of a large store
// is the slow part.
const embeddedReadyTimeout = 30 * time.Second

// StartEmbedded starts an in-process NATS server with JetStream and waits
// until it accepts connections.
func StartEmbedded(opts Options) (*Embedded, error) {
	e := &Embedded{}
	dir := opts.StoreDir
	if dir == "" {
		tmp, err := os.MkdirTemp("", "kizuna-nats-*")
		if err != nil {
			return nil, fmt.Errorf("start embedded nats: temp store dir: %w", err)
		}
		dir, e.tempDir = tmp, tmp
	}
	srv, err := server.NewServer(&server.Options{
		ServerName: "kizuna-embedded",
		DontListen: true,
		JetStream:  true,
		StoreDir:   dir,
		NoSigs:     true, // the host process owns signal handling
		NoLog:      true,
		SyncAlways: opts.SyncAlways,
	})
	if err != nil {
		e.cleanup()
		return nil, fmt.Errorf("start embedded nats: %w", err)
	}
	e.srv = srv
	srv.Start()
	if !srv.ReadyForConnections(embeddedReadyTimeout) {
		e.Shutdown()
		return nil, fmt.Errorf("start embedded nats: not ready after %s", embeddedReadyTimeout)
	}
	return e, nil
}

// Shutdown stops the server and removes its store if StartEmbedded created
// it. Close every Bus using it first so they can drain.
func (e *Embedded) Shutdown() {
	if e.srv != nil {
		e.srv.Shutdown()
		e.srv.WaitForShutdown()
	}
	e.cleanup()
}

func (e *Embedded) cleanup() {
	if e.tempDir != "" {
		_ = os.RemoveAll(e.tempDir)
	}
}
