package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// expect is what a correct answer to one question looks like.
type expect struct {
	name  string
	qtype uint16
	// want is the sorted answer data (addresses for A, "port target" for
	// SRV); empty means the name must have no such records (NXDOMAIN or
	// NODATA).
	want []string
}

func expectA(name string, ips []string) expect {
	return expect{name: name, qtype: dns.TypeA, want: ips}
}

func expectNone(name string, qtype uint16) expect { return expect{name: name, qtype: qtype} }

func (e expect) String() string {
	if len(e.want) == 0 {
		return fmt.Sprintf("%s %s: no records", e.name, dns.TypeToString[e.qtype])
	}
	return fmt.Sprintf("%s %s: %s", e.name, dns.TypeToString[e.qtype], strings.Join(e.want, ","))
}

func (e expect) msg() *dns.Msg {
	m := new(dns.Msg)
	m.SetQuestion(e.name, e.qtype)
	m.RecursionDesired = true
	if len(e.want) > 20 {
		// A big answer (the 1,000-endpoint headless service: 16 KB) fits
		// one UDP datagram on loopback if the query allows it.
		m.SetEdns0(dns.MaxMsgSize, false)
	}
	return m
}

// ok reports whether r is a correct answer.
func (e expect) ok(r *dns.Msg) bool {
	if r == nil {
		return false
	}
	var got []string
	for _, rr := range r.Answer {
		if rr.Header().Rrtype != e.qtype {
			continue
		}
		switch rr := rr.(type) {
		case *dns.A:
			got = append(got, rr.A.String())
		case *dns.SRV:
			got = append(got, fmt.Sprintf("%d %s", rr.Port, strings.ToLower(rr.Target)))
		}
	}
	if len(e.want) == 0 {
		return (r.Rcode == dns.RcodeNameError || r.Rcode == dns.RcodeSuccess) && len(got) == 0
	}
	if r.Rcode != dns.RcodeSuccess {
		return false
	}
	sort.Strings(got)
	return slices.Equal(got, e.want)
}

// prober asks one server over one UDP socket.
type prober struct {
	addr string
	c    *dns.Client
	conn *dns.Conn
}

func newProber(addr string) *prober {
	return &prober{addr: addr, c: &dns.Client{Net: "udp", Timeout: 200 * time.Millisecond, UDPSize: dns.MaxMsgSize}}
}

func (p *prober) ask(e expect) (*dns.Msg, error) {
	if p.conn == nil {
		conn, err := p.c.Dial(p.addr)
		if err != nil {
			return nil, err
		}
		p.conn = conn
	}
	r, _, err := p.c.ExchangeWithConn(e.msg(), p.conn)
	if err != nil {
		// A refused port (server not up yet) or a timeout: start afresh.
		p.close()
	}
	return r, err
}

func (p *prober) close() {
	if p.conn != nil {
		p.conn.Close()
		p.conn = nil
	}
}

// allOK asks every question once and reports whether all answers are correct.
func (p *prober) allOK(es []expect) bool {
	for _, e := range es {
		r, err := p.ask(e)
		if err != nil || !e.ok(r) {
			return false
		}
	}
	return true
}

// waitCorrect asks es every interval until every answer is correct, and
// returns when that answer arrived. It gives up at the deadline, when ctx
// ends or when exited is closed.
func waitCorrect(ctx context.Context, addr string, es []expect, interval time.Duration, deadline time.Time, exited <-chan struct{}) (time.Time, error) {
	p := newProber(addr)
	defer p.close()
	for {
		next := time.Now().Add(interval)
		if p.allOK(es) {
			return time.Now(), nil
		}
		if time.Now().After(deadline) {
			last := "no answer"
			for _, e := range es {
				r, err := p.ask(e)
				if err != nil || !e.ok(r) {
					last = fmt.Sprintf("want %s; got %s", e, brief(r, err))
					break
				}
			}
			return time.Time{}, fmt.Errorf("no correct answer from %s in time (%s)", addr, last)
		}
		select {
		case <-ctx.Done():
			return time.Time{}, ctx.Err()
		case <-exited:
			return time.Time{}, fmt.Errorf("server on %s exited", addr)
		case <-time.After(time.Until(next)):
		}
	}
}

// brief is a one-line form of an answer, for messages.
func brief(r *dns.Msg, err error) string {
	if err != nil {
		if ne, ok := errors.AsType[net.Error](err); ok && ne.Timeout() {
			return "timeout"
		}
		return err.Error()
	}
	if r == nil {
		return "nothing"
	}
	s := dns.RcodeToString[r.Rcode]
	for _, rr := range r.Answer {
		s += " | " + strings.ReplaceAll(rr.String(), "\t", " ")
	}
	return s
}
