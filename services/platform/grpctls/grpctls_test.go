package grpctls_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/kizuna/kizuna/services/platform/auth"
	"github.com/kizuna/kizuna/services/platform/config"
	"github.com/kizuna/kizuna/services/platform/grpcclient"
	"github.com/kizuna/kizuna/services/platform/grpcserver"
	"github.com/kizuna/kizuna/services/platform/grpctls"
)

// pki writes a CA and a certificate it signed for 127.0.0.1 (server and
// client use), and returns the file names.
func pki(t *testing.T) (caFile, certFile, keyFile string) {
	t.Helper()
	dir := t.TempDir()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	leaf := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "kizuna"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leaf, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalECPrivateKey(key)
	write := func(name, typ string, der []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	return write("ca.crt", "CERTIFICATE", caDER), write("tls.crt", "CERTIFICATE", leafDER), write("tls.key", "EC PRIVATE KEY", keyDER)
}

func TestMutualTLS(t *testing.T) {
	ca, cert, key := pki(t)
	server := grpctls.Flags{Cert: cert, Key: key, CA: ca, ClientAuth: true}
	creds, err := server.ServerCredentials()
	if err != nil {
		t.Fatal(err)
	}
	srv := grpcserver.New(grpcserver.Options{Verifier: auth.StaticKeys{}, Creds: creds})
	lis, err := grpcserver.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, lis) }()
	t.Cleanup(func() { cancel(); <-done })

	tests := []struct {
		name   string
		client grpctls.Flags
		want   codes.Code
	}{
		{"client certificate", grpctls.Flags{Cert: cert, Key: key, CA: ca}, codes.OK},
		{"TLS without a client certificate", grpctls.Flags{CA: ca}, codes.Unavailable},
		{"plaintext", grpctls.Flags{}, codes.Unavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var opts []grpc.DialOption
			c, err := tt.client.ClientCredentials()
			if err != nil {
				t.Fatal(err)
			}
			if c != nil {
				opts = append(opts, grpc.WithTransportCredentials(c))
			}
			conn, err := grpcclient.Dial(lis.Addr().String(), opts...)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			cctx, ccancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer ccancel()
			_, err = healthpb.NewHealthClient(conn).Check(cctx, &healthpb.HealthCheckRequest{})
			if got := status.Code(err); got != tt.want {
				t.Errorf("Check = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestFlags(t *testing.T) {
	ca, cert, key := pki(t)
	tests := []struct {
		name      string
		env       map[string]string
		wantUsage bool
		wantTLS   bool
	}{
		{name: "plaintext by default", env: map[string]string{}},
		{name: "server TLS", env: map[string]string{"KIZUNA_GRPC_TLS_CERT": cert, "KIZUNA_GRPC_TLS_KEY": key}, wantTLS: true},
		{name: "mutual TLS", env: map[string]string{"KIZUNA_GRPC_TLS_CERT": cert, "KIZUNA_GRPC_TLS_KEY": key, "KIZUNA_GRPC_TLS_CA": ca, "KIZUNA_GRPC_TLS_CLIENT_AUTH": "true"}, wantTLS: true},
		{name: "cert without key", env: map[string]string{"KIZUNA_GRPC_TLS_CERT": cert}, wantUsage: true},
		{name: "client auth without CA", env: map[string]string{"KIZUNA_GRPC_TLS_CERT": cert, "KIZUNA_GRPC_TLS_KEY": key, "KIZUNA_GRPC_TLS_CLIENT_AUTH": "1"}, wantUsage: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := config.NewFlagSetEnv("test", func(k string) (string, bool) { v, ok := tt.env[k]; return v, ok })
			f := grpctls.Register(fs)
			if err := fs.Parse(nil); err != nil {
				t.Fatal(err)
			}
			creds, err := f.ServerCredentials()
			if tt.wantUsage {
				if !errors.Is(err, config.ErrUsage) {
					t.Errorf("err = %v, want a usage error", err)
				}
				return
			}
			if err != nil || (creds != nil) != tt.wantTLS {
				t.Errorf("ServerCredentials = %v, %v; want TLS %v", creds, err, tt.wantTLS)
			}
		})
	}
}
