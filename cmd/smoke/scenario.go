package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/atlascontract/deleteorgapikey/authedit"
	"github.com/atlascontract/deleteorgapikey/internal/behavior"
)

// scenario is one row of the report. run makes its calls and says in words
// what the caller learnt (with the error it was told of, if any); want
// lists what Atlas answers them, in order (internal/behavior's situations),
// after any digest challenges. The row passes when the caller learnt one of
// outcome's alternatives (with no outcome: was told of no error), after
// finds the server in the state the calls should leave, the answers are
// those of want (or check accepts them), and each one fits the spec.
type scenario struct {
	name, auth string
	want       []behavior.Situation
	outcome    string // what the caller learns, in words; alternatives joined by " or "
	retries    bool   // the client retries failed attempts; else each answer is final
	run        func(ctx context.Context) (said string, err error)
	after      func() error
	check      func([]answer) error
}

// expected is the EXPECTED column: the answers (status and errorCode of one,
// the statuses of several), then what the caller learns.
func (s scenario) expected() string {
	parts := make([]string, len(s.want))
	for i, w := range s.want {
		parts[i] = expected(w)
		if a, _ := behavior.Lookup(w); len(s.want) > 1 {
			parts[i] = strconv.Itoa(a.Status)
		}
	}
	return arrow(strings.Join(parts, ", "), s.outcome)
}

// arrow joins answers and what they meant to the caller.
func arrow(answers, said string) string {
	if answers != "" && said != "" {
		return answers + " → " + said
	}
	return answers + said
}

// says is what Client.Remove tells its caller, in words: the Outcome, or
// the class of failure (authedit's sentinels) a caller branches on, and
// the error itself.
func says(outcome authedit.Outcome, err error) (string, error) {
	if err == nil {
		return outcome.String(), nil
	}
	if pe := (*authedit.ParamError)(nil); errors.As(err, &pe) {
		return "ParamError " + pe.Name, err
	}
	for _, c := range []struct {
		err   error
		words string
	}{
		{authedit.ErrUnauthorized, "refused"}, {authedit.ErrForbidden, "forbidden"}, {authedit.ErrOrgNotFound, "org not found"},
		{authedit.ErrRateLimited, "rate limited"}, {authedit.ErrServerError, "server error"},
	} {
		if te := (*authedit.TokenError)(nil); errors.Is(err, c.err) && errors.As(err, &te) {
			return fmt.Sprintf("token endpoint %d → %s", te.StatusCode, c.words), err
		} else if errors.Is(err, c.err) {
			return c.words, err
		}
	}
	return "", err
}

// matches compares answers with want: the last len(want) answers in order;
// any before them must be digest challenges, which a digest client meets
// before its first authenticated request.
func matches(answers []answer, want []behavior.Situation) error {
	extra := len(answers) - len(want)
	if extra < 0 {
		return fmt.Errorf("%d answers, want %d", len(answers), len(want))
	}
	for _, a := range answers[:extra] {
		if err := a.is(behavior.Unauthenticated); err != nil {
			return fmt.Errorf("unexpected answer %s", a)
		}
	}
	for i, w := range want {
		if err := answers[extra+i].is(w); err != nil {
			return err
		}
	}
	return nil
}

// runScenarios runs each scenario in turn and makes its row. It stops at
// the first scenario that cannot reach the server at all: the others
// would only fail the same way, one timeout or retry loop after another.
func runScenarios(ctx context.Context, cfg config, obs *observer, scenarios []scenario) []result {
	var results []result
	for i, s := range scenarios {
		obs.begin(s.name, s.want)
		start := time.Now()
		said, err := s.run(ctx)
		elapsed := time.Since(start)
		trips, answers, violations := obs.seen()
		problems := slices.Clone(violations)
		var got []string
		for _, a := range answers[max(0, len(answers)-max(1, len(s.want))):] {
			got = append(got, a.String())
		}
		if len(got) > 1 {
			for i, a := range answers[len(answers)-len(got):] {
				got[i] = strconv.Itoa(a.status)
			}
		}
		check := s.check
		if check == nil {
			check = func(a []answer) error { return matches(a, s.want) }
		}
		if s.outcome == "" && err != nil {
			problems = append(problems, err.Error())
		} else if s.outcome != "" && !slices.Contains(strings.Split(s.outcome, " or "), said) {
			p := fmt.Sprintf("the caller learnt %q, want %q", said, s.outcome)
			if err != nil {
				p += ": " + err.Error()
			} else if len(answers) > 0 {
				last := answers[len(answers)-1]
				p += fmt.Sprintf(" (server said %s, detail %q)", last, last.detail)
			}
			problems = append(problems, p)
		} else if err := check(answers); err != nil {
			problems = append(problems, err.Error())
		}
		if s.after != nil {
			if err := s.after(); err != nil {
				problems = append(problems, err.Error())
			}
		}
		r := result{Scenario: s.name, Auth: s.auth, Retries: s.retries, Expected: s.expected(), Got: arrow(strings.Join(got, ", "), said),
			RoundTrips: trips, Duration: elapsed, Pass: len(problems) == 0, Detail: strings.Join(problems, "; ")}
		if r.Got == "" {
			r.Got = "error"
		}
		cfg.log.Info("scenario", "name", r.Scenario, "auth", r.Auth, "got", r.Got, "pass", r.Pass)
		results = append(results, r)
		if op := (*net.OpError)(nil); errors.As(err, &op) && op.Op == "dial" {
			results[i].Detail += fmt.Sprintf(" (the server is unreachable; scenarios not run: %d)", len(scenarios)-i-1)
			break
		}
	}
	return results
}
