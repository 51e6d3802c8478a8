package gateway_test

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/jetsource/jetsource/gateway"
	"github.com/jetsource/jetsource/testkit"
)

// generous bounds what must happen "soon" in these tests: far above what it
// takes, far below what the behaviour under test would take without the fix.
const generous = 20 * time.Second

func TestSlowBodyIsCutOffByTheReadTimeout(t *testing.T) {
	f := startGateway(t, gateway.WithReadTimeout(300*time.Millisecond))
	conn, err := net.Dial("tcp", strings.TrimPrefix(f.url, "http://"))
	require.NoError(t, err)
	defer conn.Close()
	// A body of 1000 bytes at one byte per 100 ms would hold the connection
	// for 100 s.
	const bodyBytes = 1000
	_, err = fmt.Fprintf(conn, "POST /v1/commands/account/deposit HTTP/1.1\r\nHost: gw\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", bodyBytes)
	require.NoError(t, err)
	sent := make(chan int, 1)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(100 * time.Millisecond) // the slow client's pace, not a synchronisation
		defer tick.Stop()
		n := 0
		defer func() { sent <- n }()
		for n < bodyBytes {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			if _, err := conn.Write([]byte("x")); err != nil {
				return
			}
			n++
		}
	}()
	stopWriter := sync.OnceFunc(func() { close(stop); wg.Wait() })
	defer stopWriter()

	require.NoError(t, conn.SetReadDeadline(time.Now().Add(generous)))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	require.NoError(t, err, "the gateway answers before the body is complete")
	defer resp.Body.Close()
	assert.Equal(t, http.StatusRequestTimeout, resp.StatusCode)
	assert.True(t, resp.Close, "and closes the connection")
	stopWriter()
	assert.Less(t, <-sent, bodyBytes, "the body was cut off")
}

func TestLongPollOutlastsTheReadTimeout(t *testing.T) {
	// query.account.slow answers after slowReply, twice the read timeout.
	f := startGateway(t, gateway.WithReadTimeout(slowReply/2))
	status, body := do(t, "GET", f.url+"/v1/queries/account/slow?id=a&min_sequence=5", "")
	assert.Equal(t, http.StatusOK, status, "%v", body)
	assert.Equal(t, "query.account.slow", body["subject"])
}

func TestClientThatGoesAwayCancelsItsNATSRequest(t *testing.T) {
	// A gateway timeout of an hour: only the client's going away can end
	// the NATS request within the test.
	f := startGateway(t, gateway.WithTimeout(time.Hour))
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, "GET", f.url+"/v1/queries/account/hold?id=a", nil)
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		done <- err
	}()
	select {
	case <-f.held:
	case <-time.After(generous):
		t.Fatal("the echo service never saw the request")
	}
	assert.EqualValues(t, 1, f.gw.InFlight())
	cancel() // the client goes away: its connection closes
	require.ErrorIs(t, <-done, context.Canceled)
	testkit.Eventually(t, generous, func() bool { return f.gw.InFlight() == 0 },
		"the gateway abandons the NATS request of a client that went away")
}

func TestLongPollsBeyondTheLimitPerClientAnswer429(t *testing.T) {
	f := startGateway(t, gateway.WithMaxLongPolls(1))
	// Authentication off: the client is its remote IP.
	go func() { _, _ = http.Get(f.url + "/v1/queries/account/hold?id=a&min_sequence=1") }()
	<-f.held
	status, body := do(t, "GET", f.url+"/v1/queries/account/get?id=a&wait_ms=100", "")
	assert.Equal(t, http.StatusTooManyRequests, status)
	code, message := errorOf(t, body)
	assert.Equal(t, "too_many_requests", code)
	assert.Contains(t, message, "ip:127.0.0.1")
	status, _ = do(t, "GET", f.url+"/v1/queries/account/get?id=a", "")
	assert.Equal(t, http.StatusOK, status, "a query that does not wait is not limited")

	f.release <- struct{}{} // the held poll answers, and gives its slot back
	testkit.Eventually(t, generous, func() bool {
		status, _ := do(t, "GET", f.url+"/v1/queries/account/get?id=a&min_sequence=1", "")
		return status == http.StatusOK
	}, "a finished long poll frees its slot")
}

func TestLongPollLimitIsPerToken(t *testing.T) {
	a, aEntry := staticToken(t, "a", gateway.ScopeAllQueries)
	b, bEntry := staticToken(t, "b", gateway.ScopeAllQueries)
	f := startGateway(t, gateway.WithTokens(aEntry, bEntry), gateway.WithMaxLongPolls(1))
	go func() { _, _, _ = doAs(t, a, "GET", f.url+"/v1/queries/account/hold?id=a&min_sequence=1", "") }()
	<-f.held
	status, _, body := doAs(t, a, "GET", f.url+"/v1/queries/account/get?id=a&min_sequence=1", "")
	assert.Equal(t, http.StatusTooManyRequests, status)
	_, message := errorOf(t, body)
	assert.Contains(t, message, "token:a")
	status, _, _ = doAs(t, b, "GET", f.url+"/v1/queries/account/get?id=a&min_sequence=1", "")
	assert.Equal(t, http.StatusOK, status, "another token has its own slots")
	f.release <- struct{}{}
}

func TestServeSpeaksTLSWithACertificate(t *testing.T) {
	certFile, keyFile, pool := selfSignedCertificate(t)
	f := startGateway(t, gateway.WithTLS(certFile, keyFile))
	addr := strings.TrimPrefix(f.url, "http://")
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	resp, err := client.Get("https://" + addr + "/v1/queries/account/get?id=a")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.NotNil(t, resp.TLS)

	resp, err = http.Get("http://" + addr + "/v1/queries/account/get?id=a")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusBadRequest, resp.StatusCode, "plain HTTP is refused")

	_, err = gateway.New(nil, gateway.WithTLS(certFile, certFile))
	require.ErrorIs(t, err, gateway.ErrBadTLS)
}

// selfSignedCertificate writes a certificate for 127.0.0.1 and its key.
func selfSignedCertificate(t *testing.T) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "gateway"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	cert, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	require.NoError(t, err)
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	require.NoError(t, os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600))
	require.NoError(t, os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600))
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}
