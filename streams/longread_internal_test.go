package streams

import "testing"

func TestParseDelivery(t *testing.T) {
	for _, c := range []struct {
		reply              string
		seq, cseq, pending uint64
		ok                 bool
	}{
		{"$JS.ACK.EVENTS.c1.1.42.7.1700000000000000000.3", 42, 7, 3, true},
		{"$JS.ACK._.ACCHASH.EVENTS.c1.1.42.7.1700000000000000000.0", 42, 7, 0, true},
		{"$JS.ACK._.ACCHASH.EVENTS.c1.1.42.7.1700000000000000000.0.rand", 42, 7, 0, true},
		{"$JS.ACK._.H.EVENTS.c1.1.42.7.1700000000000000000", 0, 0, 0, false},
		{"$JS.ACK.EVENTS.c1.1.x.7.1.3", 0, 0, 0, false},
		{"$JS.ACK.EVENTS.c1.1.42", 0, 0, 0, false},
		{"_INBOX.abc", 0, 0, 0, false},
		{"", 0, 0, 0, false},
	} {
		seq, cseq, pending, ok := parseDelivery(c.reply)
		if ok != c.ok || (ok && (seq != c.seq || cseq != c.cseq || pending != c.pending)) {
			t.Errorf("parseDelivery(%q) = %d %d %d %v, want %d %d %d %v", c.reply, seq, cseq, pending, ok, c.seq, c.cseq, c.pending, c.ok)
		}
	}
}
