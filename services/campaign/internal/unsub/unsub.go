// Package unsub signs and reads the tokens of unsubscribe links. A token
// names the workspace, the customer, the channel type and the send it came
// with, and carries an HMAC of them, so a link cannot be forged or altered
// to unsubscribe somebody else.
package unsub

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
)

// MaxTokenBytes bounds a token a caller may hand in.
const MaxTokenBytes = 1024

// ErrInvalid reports a token that was not signed by this deployment or was
// altered.
var ErrInvalid = errors.New("invalid unsubscribe token")

// Claims is what a token says.
type Claims struct {
	WorkspaceID string `json:"w"`
	CustomerID  string `json:"c"`
	// ChannelType is the stored type: email, line or webhook.
	ChannelType string `json:"t"`
	SendID      string `json:"s"`
}

// Signer makes and checks tokens with one key.
type Signer struct {
	key []byte
}

// NewSigner returns a Signer over key (at least 32 bytes).
func NewSigner(key []byte) (*Signer, error) {
	if len(key) < 32 {
		return nil, errors.New("unsubscribe key must be at least 32 bytes")
	}
	return &Signer{key: append([]byte(nil), key...)}, nil
}

// Token returns the signed token for c.
func (s *Signer) Token(c Claims) string {
	body, _ := json.Marshal(c) // a struct of strings always encodes
	b64 := base64.RawURLEncoding.EncodeToString(body)
	return b64 + "." + base64.RawURLEncoding.EncodeToString(s.mac(b64))
}

// Parse verifies a token and returns its claims.
func (s *Signer) Parse(token string) (Claims, error) {
	if len(token) > MaxTokenBytes {
		return Claims{}, ErrInvalid
	}
	b64, sig, ok := strings.Cut(token, ".")
	if !ok {
		return Claims{}, ErrInvalid
	}
	mac, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil || !hmac.Equal(mac, s.mac(b64)) {
		return Claims{}, ErrInvalid
	}
	body, err := base64.RawURLEncoding.DecodeString(b64)
	if err != nil {
		return Claims{}, ErrInvalid
	}
	var c Claims
	if err := json.Unmarshal(body, &c); err != nil || c.WorkspaceID == "" || c.CustomerID == "" || c.ChannelType == "" {
		return Claims{}, ErrInvalid
	}
	return c, nil
}

func (s *Signer) mac(payload string) []byte {
	h := hmac.New(sha256.New, s.key)
	h.Write([]byte(payload))
	return h.Sum(nil)
}
