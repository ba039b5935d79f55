// Package grpctls is the optional TLS (and mutual TLS) of the gRPC
// connections between Kizuna's services: flags every binary shares, server
// and client credentials from PEM files, and certificates re-read when
// their files change, so a cert-manager renewal needs no restart.
// Plaintext stays the default (a loopback or a service mesh).
package grpctls

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"google.golang.org/grpc/credentials"

	"github.com/kizuna/kizuna/services/platform/config"
)

// Flags holds the TLS settings of a binary's gRPC server and clients.
type Flags struct {
	// Cert and Key are PEM files: the server's certificate, also presented
	// as the client certificate when calling other services.
	Cert, Key string
	// CA is a PEM bundle that verifies peers: the servers a client calls
	// and, with ClientAuth, the clients a server accepts. Empty: the
	// system's roots (clients); no client verification (servers).
	CA string
	// ClientAuth makes servers require a client certificate signed by CA
	// (mutual TLS).
	ClientAuth bool
}

// Register adds -grpc-tls-cert, -grpc-tls-key, -grpc-tls-ca and
// -grpc-tls-client-auth (env KIZUNA_GRPC_TLS_*) to fs.
func Register(fs *config.FlagSet) *Flags {
	f := &Flags{}
	fs.StringVar(&f.Cert, "grpc-tls-cert", "KIZUNA_GRPC_TLS_CERT", "", "PEM certificate for gRPC TLS (server, and client in mutual TLS); empty: plaintext")
	fs.StringVar(&f.Key, "grpc-tls-key", "KIZUNA_GRPC_TLS_KEY", "", "PEM private key of -grpc-tls-cert")
	fs.StringVar(&f.CA, "grpc-tls-ca", "KIZUNA_GRPC_TLS_CA", "", "PEM CA bundle verifying gRPC peers; empty: system roots")
	fs.BoolVar(&f.ClientAuth, "grpc-tls-client-auth", "KIZUNA_GRPC_TLS_CLIENT_AUTH", false, "require client certificates signed by -grpc-tls-ca (mutual TLS)")
	return f
}

// Enabled reports whether TLS is configured.
func (f *Flags) Enabled() bool { return f.Cert != "" || f.Key != "" || f.CA != "" || f.ClientAuth }

func (f *Flags) check() error {
	if (f.Cert == "") != (f.Key == "") {
		return config.Usage(errors.New("-grpc-tls-cert and -grpc-tls-key go together"))
	}
	if f.ClientAuth && (f.CA == "" || f.Cert == "") {
		return config.Usage(errors.New("-grpc-tls-client-auth needs -grpc-tls-ca and a certificate (-grpc-tls-cert, -grpc-tls-key)"))
	}
	return nil
}

// ServerCredentials returns the server's TLS credentials, or nil when TLS
// is not enabled.
func (f *Flags) ServerCredentials() (credentials.TransportCredentials, error) {
	if !f.Enabled() {
		return nil, nil
	}
	if err := f.check(); err != nil {
		return nil, err
	}
	if f.Cert == "" {
		return nil, config.Usage(errors.New("a gRPC server with TLS needs -grpc-tls-cert and -grpc-tls-key"))
	}
	kp, err := newKeyPair(f.Cert, f.Key)
	if err != nil {
		return nil, err
	}
	cfg := &tls.Config{
		MinVersion: tls.VersionTLS12,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			return kp.get()
		},
	}
	if f.ClientAuth {
		if cfg.ClientCAs, err = loadPool(f.CA); err != nil {
			return nil, err
		}
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return credentials.NewTLS(cfg), nil
}

// ClientCredentials returns the credentials for calling other services, or
// nil when TLS is not enabled. The server name checked is the target's
// host, so certificates must name the Service (kizuna-ingestion.kizuna.svc).
func (f *Flags) ClientCredentials() (credentials.TransportCredentials, error) {
	if !f.Enabled() {
		return nil, nil
	}
	if err := f.check(); err != nil {
		return nil, err
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if f.CA != "" {
		pool, err := loadPool(f.CA)
		if err != nil {
			return nil, err
		}
		cfg.RootCAs = pool
	}
	if f.Cert != "" {
		kp, err := newKeyPair(f.Cert, f.Key)
		if err != nil {
			return nil, err
		}
		cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			return kp.get()
		}
	}
	return credentials.NewTLS(cfg), nil
}

func loadPool(file string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("grpc tls: read CA: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("grpc tls: %s holds no PEM certificate", file)
	}
	return pool, nil
}

// keyPair is a certificate and key re-read when the certificate file's
// modification time changes (checked at most every reloadEvery).
type keyPair struct {
	cert, key string

	mu      sync.Mutex
	loaded  *tls.Certificate
	modTime time.Time
	checked time.Time
}

const reloadEvery = 10 * time.Second

func newKeyPair(cert, key string) (*keyPair, error) {
	kp := &keyPair{cert: cert, key: key}
	if _, err := kp.get(); err != nil {
		return nil, err
	}
	return kp, nil
}

func (kp *keyPair) get() (*tls.Certificate, error) {
	kp.mu.Lock()
	defer kp.mu.Unlock()
	now := time.Now()
	if kp.loaded != nil && now.Sub(kp.checked) < reloadEvery {
		return kp.loaded, nil
	}
	kp.checked = now
	st, err := os.Stat(kp.cert)
	if err != nil {
		if kp.loaded != nil {
			return kp.loaded, nil // mid-rotation: keep serving the old one
		}
		return nil, fmt.Errorf("grpc tls: %w", err)
	}
	if kp.loaded != nil && st.ModTime().Equal(kp.modTime) {
		return kp.loaded, nil
	}
	c, err := tls.LoadX509KeyPair(kp.cert, kp.key)
	if err != nil {
		if kp.loaded != nil {
			return kp.loaded, nil // the key may not be written yet
		}
		return nil, fmt.Errorf("grpc tls: load key pair: %w", err)
	}
	kp.loaded, kp.modTime = &c, st.ModTime()
	return kp.loaded, nil
}
