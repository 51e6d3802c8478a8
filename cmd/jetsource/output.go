package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/jetsource/jetsource/admin"
	"github.com/jetsource/jetsource/streams"
)

// shownHeaders are the headers a table shows in columns of their own.
var shownHeaders = []string{streams.HeaderType, streams.HeaderVersion, streams.HeaderTime}

func table(w io.Writer) *tabwriter.Writer { return tabwriter.NewWriter(w, 0, 0, 2, ' ', 0) }

// printHistory prints events as a table, one row each.
func printHistory(w io.Writer, history []admin.Event, headers bool) error {
	tw := table(w)
	cols := "VERSION\tSEQUENCE\tTIME\tTYPE\tPAYLOAD\tNOTE"
	if headers {
		cols += "\tHEADERS"
	}
	fmt.Fprintln(tw, cols)
	for _, ev := range history {
		row := fmt.Sprintf("%d\t%d\t%s\t%s\t%s\t%s", ev.Version, ev.Sequence, timeText(ev.Time), ev.Type, compact(ev.Payload), note(ev))
		if headers {
			row += "\t" + headerText(ev.Headers)
		}
		fmt.Fprintln(tw, row)
	}
	return tw.Flush()
}

// note marks voided events and forgotten fields.
func note(ev admin.Event) string {
	var parts []string
	if ev.VoidedBy != 0 {
		parts = append(parts, fmt.Sprintf("voided by sequence %d", ev.VoidedBy))
	}
	if len(ev.Forgotten) > 0 {
		parts = append(parts, "forgotten: "+strings.Join(ev.Forgotten, ","))
	}
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, "; ")
}

// headerText lists the headers the other columns do not show, k=v, sorted.
func headerText(h map[string]string) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(h)) {
		if !slices.Contains(shownHeaders, k) {
			parts = append(parts, k+"="+h[k])
		}
	}
	return strings.Join(parts, " ")
}

func timeText(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// compact is JSON on one line.
func compact(raw []byte) string {
	var b bytes.Buffer
	if json.Compact(&b, raw) != nil {
		return string(raw)
	}
	return b.String()
}

// printState prints a replayed state: where it stands, then the state.
func printState(w io.Writer, st admin.State, until streams.Until) error {
	ref := st.Type + "/" + st.ID
	if !st.Exists {
		_, err := fmt.Fprintf(w, "%s has no events%s\n", ref, boundText(until))
		return err
	}
	from := "replayed from the first event"
	if st.FromSnapshot {
		from = fmt.Sprintf("replayed from the snapshot at version %d", st.SnapshotVersion)
	}
	asOf := ""
	if !until.Time.IsZero() {
		asOf = boundText(until)
	}
	fmt.Fprintf(w, "%s at version %d (sequence %d)%s, %s\n", ref, st.Version, st.Sequence, asOf, from)
	if st.Forgotten {
		fmt.Fprintln(w, "its personal data is forgotten")
	}
	b, err := json.MarshalIndent(st.State, "", "  ")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}

// printTailed prints one live event on a line.
func printTailed(w io.Writer, ev admin.Event) error {
	_, err := fmt.Fprintf(w, "%s  %s  %s  v%d  seq %d  %s\n", timeText(ev.Time), ev.Subject, ev.Type, ev.Version, ev.Sequence, compact(ev.Payload))
	return err
}

// printSent prints a command's success reply.
func printSent(w io.Writer, reply []byte) error {
	var r struct {
		AggregateID string `json:"aggregate_id"`
		Version     uint64 `json:"version"`
		Sequence    uint64 `json:"sequence"`
		Events      []struct {
			Type     string `json:"type"`
			Version  uint64 `json:"version"`
			Sequence uint64 `json:"sequence"`
		} `json:"events"`
	}
	if err := json.Unmarshal(reply, &r); err != nil {
		_, err = fmt.Fprintf(w, "%s\n", reply)
		return err
	}
	fmt.Fprintf(w, "ok: %s at version %d, sequence %d\n", r.AggregateID, r.Version, r.Sequence)
	if len(r.Events) == 0 {
		_, err := fmt.Fprintln(w, "no event appended")
		return err
	}
	tw := table(w)
	fmt.Fprintln(tw, "EVENT\tVERSION\tSEQUENCE")
	for _, e := range r.Events {
		fmt.Fprintf(tw, "%s\t%d\t%d\n", e.Type, e.Version, e.Sequence)
	}
	return tw.Flush()
}

// printAnswer prints a query's reply: an object as key/value lines, a list
// of objects as a table, anything else as JSON.
func printAnswer(w io.Writer, reply []byte) error {
	var r struct {
		Data     json.RawMessage `json:"data"`
		Sequence uint64          `json:"sequence"`
	}
	if err := json.Unmarshal(reply, &r); err != nil {
		_, err = fmt.Fprintf(w, "%s\n", reply)
		return err
	}
	var obj map[string]json.RawMessage
	var list []map[string]json.RawMessage
	tw := table(w)
	switch {
	case json.Unmarshal(r.Data, &obj) == nil && obj != nil:
		for _, k := range keysOf(obj) {
			fmt.Fprintf(tw, "%s\t%s\n", k, value(obj[k]))
		}
	case json.Unmarshal(r.Data, &list) == nil && len(list) > 0:
		cols := keysOf(list...)
		fmt.Fprintln(tw, strings.ToUpper(strings.Join(cols, "\t")))
		for _, row := range list {
			cells := make([]string, len(cols))
			for i, c := range cols {
				cells[i] = value(row[c])
			}
			fmt.Fprintln(tw, strings.Join(cells, "\t"))
		}
	default:
		fmt.Fprintln(tw, compact(r.Data))
	}
	fmt.Fprintf(tw, "(as of stream sequence %d)\n", r.Sequence)
	return tw.Flush()
}

// keysOf lists the keys of objects, "id" first, the rest sorted.
func keysOf(objects ...map[string]json.RawMessage) []string {
	var keys []string
	for _, o := range objects {
		for k := range o {
			if !slices.Contains(keys, k) {
				keys = append(keys, k)
			}
		}
	}
	slices.SortFunc(keys, func(a, b string) int {
		switch {
		case a == b:
			return 0
		case a == "id":
			return -1
		case b == "id":
			return 1
		}
		return strings.Compare(a, b)
	})
	return keys
}

// value is a cell: a string without its quotes, anything else as JSON.
func value(raw json.RawMessage) string {
	if raw == nil {
		return "-"
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	return compact(raw)
}

// printProjections prints a table of projections.
func printProjections(w io.Writer, list []admin.Projection) error {
	tw := table(w)
	fmt.Fprintln(tw, "PROJECTION\tSTATE\tGENERATION\tCHECKPOINT\tREACHED\tSTREAM\tLAG\tDETAIL")
	for _, p := range list {
		detail := "-"
		switch {
		case p.Failed != nil:
			detail = fmt.Sprintf("failed on %s at sequence %d (%s): %s", p.Failed.Type, p.Failed.Sequence, p.Failed.Subject, p.Failed.Error)
		case p.Rebuild != nil:
			detail = fmt.Sprintf("building generation %d: %d of %d", p.Rebuild.Generation, min(p.Rebuild.Reached, p.StreamLast), p.StreamLast)
		}
		if len(p.Partitions) > 0 && detail == "-" {
			detail = fmt.Sprintf("%d partitions", len(p.Partitions))
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%d\t%d\t%s\n", p.Name, p.State, p.Generation, p.Checkpoint, p.Reached, p.StreamLast, p.Lag, detail)
		// A partitioned projection's partitions follow it, indented.
		for _, part := range p.Partitions {
			fmt.Fprintf(tw, "  %s\t%s\t%d\t%d\t%d\t%d\t-\t-\n", part.Name, part.State, part.Generation, part.Checkpoint, part.Reached, p.StreamLast)
		}
	}
	return tw.Flush()
}

// progressWidth is the number of cells of the progress bar.
const progressWidth = 30

// progressLine draws a progress bar on one terminal line, redrawn with a
// carriage return.
type progressLine struct {
	w     io.Writer
	label string
	drawn bool
}

func newProgressLine(w io.Writer, label string) *progressLine {
	return &progressLine{w: w, label: label}
}

func (p *progressLine) show(done, total uint64) {
	filled, percent := progressWidth, 100
	if total > 0 {
		filled, percent = int(done*progressWidth/total), int(done*100/total)
	}
	fmt.Fprintf(p.w, "\r%s [%s%s] %3d%% %d/%d", p.label, strings.Repeat("#", filled), strings.Repeat(".", progressWidth-filled), percent, done, total)
	p.drawn = true
}

// end ends the line, if one was drawn.
func (p *progressLine) end() {
	if p.drawn {
		fmt.Fprintln(p.w)
	}
}
