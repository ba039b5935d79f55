package gateway

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"io"
	"net/http"
	"strings"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	campaignv1 "github.com/kizuna/kizuna/gen/kizuna/campaign/v1"
)

// The public routes the gateway answers itself. Neither takes an API key:
// LINE's signature and the unsubscribe token authenticate them, and the
// campaign service checks both (its RPCs behind them are public).
const (
	lineWebhookRoute = "/v1/channels/{channelId}/line:webhook"
	unsubscribeRoute = "/unsubscribe/{token}"
)

// Limits of the public routes. LINE's webhook bodies are small, but one
// delivery may batch many events; the campaign service takes up to 1 MiB.
// An RFC 8058 one-click body is a single form field.
const (
	lineWebhookBodyLimit  = 1 << 20
	unsubscribeBodyLimit  = 16 << 10
	unsubscribeTokenLimit = 1 << 10
)

// lineWebhook passes a LINE webhook call to ChannelService.ReceiveLineWebhook
// with the body exactly as received: X-Line-Signature is an HMAC of those
// bytes, which grpc-gateway's JSON transcoding would not preserve. The
// call carries no credentials (the RPC is public; the signature is the
// authentication) and the backend's status maps to HTTP as on every other
// route.
func (g *Gateway) lineWebhook(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		g.httpError(w, r, http.StatusMethodNotAllowed,
			status.Errorf(codes.Unimplemented, "method %s not allowed; LINE webhooks are POST", r.Method))
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), requestTimeout)
	defer cancel()
	r = r.WithContext(ctx)

	// The signature covers the bytes on the wire; a body in another
	// content coding could not be checked against it. LINE sends none.
	if enc := strings.TrimSpace(r.Header.Get("Content-Encoding")); enc != "" && !strings.EqualFold(enc, "identity") {
		g.httpError(w, r, http.StatusUnsupportedMediaType,
			status.Errorf(codes.InvalidArgument, "unsupported Content-Encoding %q: LINE webhooks are sent uncompressed", enc))
		return
	}
	body, err := readRaw(r, lineWebhookBodyLimit)
	switch {
	case errors.Is(err, errBodyTooLarge):
		g.httpError(w, r, http.StatusRequestEntityTooLarge,
			status.Errorf(codes.InvalidArgument, "request body exceeds %d KB, the limit for LINE webhooks", lineWebhookBodyLimit>>10))
		return
	case err != nil:
		g.logger.DebugContext(ctx, "reading request body", "path", r.URL.Path, "error", err)
		runtime.HTTPError(ctx, g.mux, g.marshaler, w, r, status.Error(codes.InvalidArgument, "could not read the request body"))
		return
	}

	resp, err := g.channels.ReceiveLineWebhook(withoutCredentials(ctx), &campaignv1.ReceiveLineWebhookRequest{
		ChannelId: r.PathValue("channelId"),
		Signature: r.Header.Get("X-Line-Signature"),
		Body:      body,
	})
	if err != nil {
		runtime.HTTPError(ctx, g.mux, g.marshaler, w, r, err)
		return
	}
	g.writeMessage(w, r, resp)
}

// unsubscribe serves the unsubscribe link of marketing mail
// (List-Unsubscribe: <{publicURL}/unsubscribe/{token}>). GET only shows a
// confirmation page, because mail scanners and link previews fetch links
// on their own; POST, from the page's form or a mail client's RFC 8058
// one-click (body List-Unsubscribe=One-Click), calls
// ConsentService.Unsubscribe. Every answer is a small self-contained HTML
// page in Japanese and English.
func (g *Gateway) unsubscribe(w http.ResponseWriter, r *http.Request) {
	setPageHeaders(w.Header())
	token := r.PathValue("token")
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		if token == "" || len(token) > unsubscribeTokenLimit {
			g.writePage(w, r, http.StatusBadRequest, pageInvalidLink)
			return
		}
		g.writePage(w, r, http.StatusOK, pageConfirm)
	case http.MethodPost:
		g.unsubscribePost(w, r, token)
	default:
		w.Header().Set("Allow", "GET, HEAD, POST")
		g.writePage(w, r, http.StatusMethodNotAllowed, pageMethodNotAllowed)
	}
}

func (g *Gateway) unsubscribePost(w http.ResponseWriter, r *http.Request, token string) {
	ctx, cancel := context.WithTimeout(r.Context(), requestTimeout)
	defer cancel()
	r = r.WithContext(ctx)

	// The body says only "one-click" (or nothing, from some clients); the
	// token in the path is what counts. It is read within its limit so a
	// client cannot stream into an open request, then dropped.
	if _, err := readRaw(r, unsubscribeBodyLimit); err != nil {
		if errors.Is(err, errBodyTooLarge) {
			g.writePage(w, r, http.StatusRequestEntityTooLarge, pageTooLarge)
			return
		}
		g.logger.DebugContext(ctx, "reading request body", "route", unsubscribeRoute, "error", err)
		g.writePage(w, r, http.StatusBadRequest, pageBadRequest)
		return
	}
	if token == "" || len(token) > unsubscribeTokenLimit {
		g.writePage(w, r, http.StatusBadRequest, pageInvalidLink)
		return
	}

	resp, err := g.consent.Unsubscribe(withoutCredentials(ctx), &campaignv1.UnsubscribeRequest{Token: token})
	if err != nil {
		code, pg := unsubscribeFailure(err)
		// The token is never logged: whoever holds it can use it.
		if code == http.StatusBadRequest {
			g.logger.DebugContext(ctx, "unsubscribe refused", "code", status.Code(err).String(), "error", err)
		} else {
			g.logger.WarnContext(ctx, "unsubscribe failed", "code", status.Code(err).String(), "error", err)
		}
		if code == http.StatusServiceUnavailable {
			w.Header().Set("Retry-After", "60")
		}
		g.writePage(w, r, code, pg)
		return
	}
	if resp.GetChanged() {
		g.writePage(w, r, http.StatusOK, pageDone)
	} else {
		g.writePage(w, r, http.StatusOK, pageAlreadyDone)
	}
}

// unsubscribeFailure picks the answer to a failed Unsubscribe: the link's
// fault (a forged, truncated or stale token) is 400; the backend's is 503
// when trying again later can help, 500 otherwise.
func unsubscribeFailure(err error) (int, page) {
	switch status.Code(err) {
	case codes.InvalidArgument, codes.Unauthenticated, codes.PermissionDenied, codes.NotFound, codes.FailedPrecondition:
		return http.StatusBadRequest, pageInvalidLink
	case codes.Unavailable, codes.DeadlineExceeded, codes.ResourceExhausted, codes.Aborted, codes.Canceled:
		return http.StatusServiceUnavailable, pageUnavailable
	default:
		return http.StatusInternalServerError, pageFailed
	}
}

// withoutCredentials returns ctx with no outgoing metadata, so a public
// call can never carry a key, whatever an earlier layer put there. Trace
// context is added later by the client's stats handler.
func withoutCredentials(ctx context.Context) context.Context {
	return metadata.NewOutgoingContext(ctx, metadata.MD{})
}

// readRaw reads the body as it arrived (no decoding) and fails with
// errBodyTooLarge beyond limit. A request without a body reads as empty.
func readRaw(r *http.Request, limit int64) ([]byte, error) {
	if r.Body == nil || r.Body == http.NoBody {
		return []byte{}, nil
	}
	if r.ContentLength > limit {
		return nil, errBodyTooLarge
	}
	body, err := io.ReadAll(&cappedReader{r: r.Body, n: limit})
	if err != nil {
		if errors.Is(err, errBodyTooLarge) {
			return nil, err
		}
		return nil, fmt.Errorf("read body: %w", err)
	}
	return body, nil
}

// httpError answers with err in grpc-gateway's JSON error shape and a fixed
// HTTP status.
func (g *Gateway) httpError(w http.ResponseWriter, r *http.Request, code int, err error) {
	runtime.HTTPError(r.Context(), g.mux, g.marshaler, w, r, &runtime.HTTPStatusError{HTTPStatus: code, Err: err})
}

// writeMessage answers 200 with m as JSON, marshalled like grpc-gateway's
// answers (zero values included).
func (g *Gateway) writeMessage(w http.ResponseWriter, r *http.Request, m proto.Message) {
	b, err := g.marshaler.Marshal(m)
	if err != nil {
		g.logger.ErrorContext(r.Context(), "marshal response", "path", r.URL.Path, "error", err)
		runtime.HTTPError(r.Context(), g.mux, g.marshaler, w, r, status.Error(codes.Internal, "failed to marshal the response"))
		return
	}
	w.Header().Set("Content-Type", g.marshaler.ContentType(m))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b)
}

// page is the text of one HTML answer, Japanese first.
type page struct {
	TitleJA, TextJA string
	TitleEN, TextEN string
	// Form shows the button that POSTs to the page's own URL.
	Form bool
}

// The unsubscribe pages.
var (
	pageConfirm = page{
		TitleJA: "配信停止",
		TextJA:  "今後のマーケティングメッセージの配信を停止するには、下のボタンを押してください。",
		TitleEN: "Unsubscribe",
		TextEN:  "To stop receiving marketing messages from us, press the button below.",
		Form:    true,
	}
	pageDone = page{
		TitleJA: "配信を停止しました",
		TextJA:  "今後、マーケティングメッセージはお送りしません。",
		TitleEN: "You have been unsubscribed",
		TextEN:  "You will no longer receive marketing messages from us.",
	}
	pageAlreadyDone = page{
		TitleJA: "配信は停止済みです",
		TextJA:  "すでに配信を停止しています。今後、マーケティングメッセージはお送りしません。",
		TitleEN: "You are already unsubscribed",
		TextEN:  "You had already unsubscribed. You will not receive marketing messages from us.",
	}
	pageInvalidLink = page{
		TitleJA: "このリンクは無効です",
		TextJA:  "配信停止リンクが正しくありません。メールに記載されたリンクを、途中で切れていないか確認してもう一度開いてください。",
		TitleEN: "This link is not valid",
		TextEN:  "The unsubscribe link is not valid. Please open the link from the e-mail again, making sure it was not cut off.",
	}
	pageUnavailable = page{
		TitleJA: "ただいま処理できません",
		TextJA:  "一時的に配信停止を受け付けられません。しばらくしてからもう一度お試しください。",
		TitleEN: "Temporarily unavailable",
		TextEN:  "We cannot process your request right now. Please try again in a few minutes.",
	}
	pageFailed = page{
		TitleJA: "エラーが発生しました",
		TextJA:  "配信停止を完了できませんでした。しばらくしてからもう一度お試しください。",
		TitleEN: "Something went wrong",
		TextEN:  "We could not complete your request. Please try again later.",
	}
	pageTooLarge = page{
		TitleJA: "リクエストが大きすぎます",
		TextJA:  "送信されたデータが大きすぎます。",
		TitleEN: "Request too large",
		TextEN:  "The request sent was too large.",
	}
	pageBadRequest = page{
		TitleJA: "リクエストを読み取れません",
		TextJA:  "送信されたデータを読み取れませんでした。もう一度お試しください。",
		TitleEN: "Bad request",
		TextEN:  "The request could not be read. Please try again.",
	}
	pageMethodNotAllowed = page{
		TitleJA: "この操作はできません",
		TextJA:  "このページではその操作を受け付けていません。",
		TitleEN: "Method not allowed",
		TextEN:  "This page does not accept that request method.",
	}
)

// pageCSS is the pages' only style, inline so the page loads nothing else;
// the Content-Security-Policy allows exactly this text by its hash.
const pageCSS = `body{margin:0;padding:2rem 1rem;font-family:system-ui,-apple-system,"Hiragino Sans","Noto Sans JP",sans-serif;line-height:1.7;color:#222;background:#f6f6f4}` +
	`main{max-width:34rem;margin:0 auto;padding:1.5rem 2rem;background:#fff;border-radius:8px}` +
	`h1{font-size:1.4rem;margin:0 0 .5rem}h2{font-size:1.1rem;margin:1.5rem 0 .5rem;color:#555}p{margin:0 0 .75rem}` +
	`button{margin-top:1rem;padding:.7rem 1.4rem;font-size:1rem;border:0;border-radius:6px;background:#c0392b;color:#fff;cursor:pointer}`

// The form has no action: it posts to the page's own URL, whatever prefix
// a proxy serves the gateway under. Its hidden field makes the body the
// same as an RFC 8058 one-click.
var pageTemplate = template.Must(template.New("page").Parse(`<!DOCTYPE html>
<html lang="ja">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex, nofollow">
<title>{{.TitleJA}} / {{.TitleEN}}</title>
<style>` + pageCSS + `</style>
</head>
<body>
<main>
<h1>{{.TitleJA}}</h1>
<p>{{.TextJA}}</p>
<h2 lang="en">{{.TitleEN}}</h2>
<p lang="en">{{.TextEN}}</p>
{{- if .Form}}
<form method="post">
<input type="hidden" name="List-Unsubscribe" value="One-Click">
<button type="submit">配信を停止する / Unsubscribe</button>
</form>
{{- end}}
</main>
</body>
</html>
`))

// pageCSP allows nothing but the inline style above and the form posting
// to this origin; the page cannot be framed or load anything.
var pageCSP = func() string {
	sum := sha256.Sum256([]byte(pageCSS))
	return "default-src 'none'; style-src 'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'; " +
		"form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
}()

// setPageHeaders sets the headers of every HTML answer: never cached (the
// answer depends on the token and on time), never framed (no clickjacking
// of the button), no referrer leaking the token in the URL.
func setPageHeaders(h http.Header) {
	h.Set("Cache-Control", "no-store")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Content-Security-Policy", pageCSP)
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Content-Type-Options", "nosniff")
}

// writePage renders p with status code.
func (g *Gateway) writePage(w http.ResponseWriter, r *http.Request, code int, p page) {
	var buf bytes.Buffer
	if err := pageTemplate.Execute(&buf, p); err != nil {
		// The pages are constants: this is a bug, caught by the tests.
		g.logger.ErrorContext(r.Context(), "render page", "error", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(code)
	_, _ = w.Write(buf.Bytes())
}
