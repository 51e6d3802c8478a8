// Package gateway is the HTTP front door of jetsource (the seed's API
// gateway). It holds no domain logic: it turns an HTTP request into a NATS
// request on the contract's subjects and the NATS reply back into HTTP.
//
//	POST /v1/commands/{type}/{command}   body: the command JSON of the contract
//	                                     -> request on cmd.<type>.<command>
//	GET  /v1/queries/{model}/{name}?p=v  -> request on query.<model>.<name>
//	                                        with {"p": "v", …} as the body
//
// Service errors travel in NATS as the micro headers Nats-Service-Error-Code
// and Nats-Service-Error; the gateway answers with that code as the HTTP
// status and the reply body as it is ({"error": {"code", "message"}}). When
// nothing offers the subject (no responders) it says 404 not_found (DESIGN
// §2); when the answer is late, 503 unavailable.
//
// # Authentication and scopes
//
// With no token and no JWT key configured, the gateway lets every request
// through (a laptop, the quick start). Once either is configured, every
// route needs an "Authorization: Bearer <token>" header, and the token's
// scopes must grant the route:
//
//	POST /v1/commands/{type}/…   cmd:<type> or cmd:*
//	GET  /v1/queries/{model}/…   query:<model> or query:*
//	routes added with WithRoute  the scope they were added with (admin for
//	                             the gateway's /metrics)
//	admin                        grants every route
//
// No token, or one that does not verify, is answered 401 with the error body
// (code "unauthorized") and a WWW-Authenticate: Bearer header (RFC 6750); a
// valid token without the route's scope is answered 403 (code "forbidden").
//
// Two kinds of token are accepted, side by side:
//
//   - Static tokens (WithTokens, LoadTokens): the settings hold only the
//     SHA-256 of each token, with the token's name and scopes. NewToken makes
//     a token (256 random bits) and HashToken its hash for the settings:
//
//     tok, _ := gateway.NewToken()      // give tok to the client, once
//     hash, _ := gateway.HashToken(tok) // put hash in the tokens file
//
//     A plain SHA-256 is the right hash for a random 256-bit secret: nobody
//     can search that space, so a slow password hash (bcrypt, argon2id)
//     would add nothing but a per-request cost that any anonymous client
//     could make the gateway pay. That is why HashToken refuses short
//     tokens: a slow hash is for secrets a person chose.
//
//   - JWTs from an identity provider (WithJWT): signed with HS256 (a shared
//     secret), RS256 (an RSA public key) or EdDSA (an Ed25519 public key);
//     only the algorithms of the configured keys are accepted. exp is
//     required, nbf honoured, and iss and aud checked when configured. The
//     scopes are the "scope" claim (space-separated, as RFC 8693; a JSON
//     array is accepted too), or another claim named by JWT.ScopeClaim;
//     scopes the gateway does not know are ignored.
//
// # Timeouts, disconnects and long polls
//
// Serve runs the gateway's own http.Server with ReadHeaderTimeout,
// ReadTimeout (the whole request, headers and body: a client that trickles
// its body is cut off with 408) and IdleTimeout, and with TLS when given a
// certificate and key (WithTLS). net/http lifts the read deadline once the
// request is read, so a long poll may outlast it.
//
// Every NATS request is made with the HTTP request's context: a client that
// goes away abandons its NATS request at once (InFlight counts the requests
// still waiting for a reply).
//
// # Event browser
//
// WithBrowser serves the event browser: one page at /ui/ (HTML, JavaScript
// and CSS embedded with embed.FS, no build step, nothing fetched from
// elsewhere, a Content-Security-Policy that says so) and read-only JSON
// endpoints under /v1/admin/ (an aggregate's events, its state at a
// version, the projections, the live events as Server-Sent Events). The
// endpoints are an operator's view of all data: they need ScopeAdmin once
// authentication is on. The page holds no data and is open; it sends the
// token the operator pastes into it, and reads the live events with fetch,
// since EventSource cannot send an Authorization header. What the endpoints
// read is a Browser (package service builds it on package admin). A live
// stream holds one of its client's long polls (below) while it is open.
//
// A query with min_sequence or wait_ms may wait for the projections (a long
// poll). Each client, a token's name or a JWT's subject, or the remote IP
// when authentication is off, may hold at most WithMaxLongPolls of them at
// once; one more is answered 429 (code "too_many_requests").
//
// Each command or query request is a server span (otelhttp, named after its
// route) that continues the request's traceparent header; the NATS request
// it sends is a client span whose trace context goes in the request's
// headers, for the writer or the reader to continue. WithTracerProvider
// (default: the global provider) makes them.
package gateway
