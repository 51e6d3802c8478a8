package gateway_test

import (
	"fmt"

	"github.com/jetsource/jetsource/gateway"
)

// A static token for the tokens file: make it once with NewToken, give it to
// the client, and keep only its hash in the settings.
func ExampleHashToken() {
	token := "jst_5Yq0n0mJ2dC9u1Tq8c6bq3oN0m3W1p9kq2L5d7f8g1h" // from gateway.NewToken()
	hash, err := gateway.HashToken(token)
	if err != nil {
		panic(err)
	}
	fmt.Printf("tokens:\n  - name: billing\n    hash: %s\n    scopes: [cmd:account, query:account]\n", hash)
	// Output:
	// tokens:
	//   - name: billing
	//     hash: sha256:fb6b5482171d04acd6a992f69990bb4b6f7ee621614bf14a993becae8bba3635
	//     scopes: [cmd:account, query:account]
}
