//go:build !linux || race

package kubesvc

import (
	"context"
	"net"
	"time"
)

// rawReads is conn as it is where raw reads are not made (rawread.go).
func rawReads(conn net.Conn) net.Conn { return conn }

// rawReadDial is dial (nil: client-go's default dialer's).
func rawReadDial(dial func(ctx context.Context, network, address string) (net.Conn, error)) func(ctx context.Context, network, address string) (net.Conn, error) {
	if dial == nil {
		dial = (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	}
	return dial
}
