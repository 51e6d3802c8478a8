package config

import (
	"fmt"
	"regexp"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

// StreamLayout is the setting store.streams: the event streams of a
// deployment of several, each with the aggregate types whose events it
// stores. Empty (the default) means one stream, store.stream, capturing
// every event (events.>). In YAML it is a list
//
//	streams:
//	  - name: ACCOUNTS
//	    types: [account, user]
//	  - name: ORDERS
//	    types: [order, product]
//
// and in a variable or flag the same as text:
// ACCOUNTS=account,user;ORDERS=order,product.
type StreamLayout string

// StreamSpec is one stream of a StreamLayout.
type StreamSpec struct {
	Name  string   `yaml:"name"`
	Types []string `yaml:"types"`
}

// UnmarshalYAML takes the list form (or the text form as a string).
func (l *StreamLayout) UnmarshalYAML(node *yaml.Node) error {
	if node.Kind == yaml.ScalarNode {
		*l = StreamLayout(node.Value)
		return nil
	}
	var specs []StreamSpec
	dec := node.Decode
	if err := dec(&specs); err != nil {
		return fmt.Errorf("store.streams: a list of {name, types}: %w", err)
	}
	parts := make([]string, len(specs))
	for i, s := range specs {
		parts[i] = s.Name + "=" + strings.Join(s.Types, ",")
	}
	*l = StreamLayout(strings.Join(parts, ";"))
	return nil
}

// aggregateType is the grammar of an aggregate type (package aggregate's).
var aggregateType = regexp.MustCompile(`^[a-z][a-z0-9_]{0,63}$`)

// Specs parses the layout; nil for the default (one stream). It refuses a
// stream without types or with a bad name, a bad type, a type in two
// streams, a stream listed twice.
func (l StreamLayout) Specs() ([]StreamSpec, error) {
	text := strings.TrimSpace(string(l))
	if text == "" {
		return nil, nil
	}
	var specs []StreamSpec
	var problems []string
	owner := map[string]string{}
	for i, part := range strings.Split(text, ";") {
		name, types, ok := strings.Cut(strings.TrimSpace(part), "=")
		name = strings.TrimSpace(name)
		if !ok || strings.TrimSpace(types) == "" {
			problems = append(problems, fmt.Sprintf("stream %d (%q) lists no aggregate types (NAME=type,type)", i+1, part))
			continue
		}
		if why := layoutStreamName(name); why != "" {
			problems = append(problems, fmt.Sprintf("stream name %q %s", name, why))
		}
		if slices.ContainsFunc(specs, func(s StreamSpec) bool { return s.Name == name }) {
			problems = append(problems, fmt.Sprintf("stream %s is listed twice", name))
		}
		spec := StreamSpec{Name: name}
		for _, t := range strings.Split(types, ",") {
			t = strings.TrimSpace(t)
			switch o, dup := owner[t]; {
			case !aggregateType.MatchString(t):
				problems = append(problems, fmt.Sprintf("stream %s: aggregate type %q must match [a-z][a-z0-9_]{0,63}", name, t))
			case dup:
				problems = append(problems, fmt.Sprintf("aggregate type %s is in stream %s and in stream %s (each type is in exactly one)", t, o, name))
			default:
				owner[t] = name
				spec.Types = append(spec.Types, t)
			}
		}
		specs = append(specs, spec)
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("%s", strings.Join(problems, "; "))
	}
	return specs, nil
}

// layoutStreamName returns why name cannot name a stream of a layout, or "".
// A stream of a layout names positions "<stream>:<sequence>", so it holds
// no ':'.
func layoutStreamName(name string) string {
	if why := streamName(name); why != "" {
		return why
	}
	if len(name) > maxLayoutStreamName {
		return fmt.Sprintf("is longer than %d bytes", maxLayoutStreamName)
	}
	if strings.Contains(name, ":") {
		return "must not contain ':' (positions are <stream>:<sequence>)"
	}
	if strings.HasPrefix(name, kvStreamPrefix) {
		return "must not start with " + kvStreamPrefix + " (the streams of key-value buckets)"
	}
	return ""
}

// maxLayoutStreamName bounds the name of a stream of a layout (it travels in
// every position).
const maxLayoutStreamName = 32
