package avs

import (
	"context"
	"errors"
	"math/big"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/structpb"
)

// Upstream's TestValidateChainlinkRound (macros/chainlink_test.go), with exact messages.
func TestValidateChainlinkRound(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	maxAge := time.Hour
	ago := func(d time.Duration) *big.Int { return big.NewInt(now.Add(-d).Unix()) }
	price := big.NewInt(262199000000)
	for name, r := range map[string]chainlinkRound{
		"fresh equal round ids":     {big.NewInt(100), price, ago(10 * time.Minute), big.NewInt(100)},
		"answeredInRound > roundId": {big.NewInt(100), price, ago(10 * time.Minute), big.NewInt(101)},
		"age exactly maxAge":        {big.NewInt(100), price, ago(maxAge), big.NewInt(100)},
	} {
		got, err := validateChainlinkRound(r, maxAge, now)
		if err != nil || got.Cmp(price) != 0 {
			t.Errorf("%s: %v, %v", name, got, err)
		}
	}
	for _, tt := range []struct {
		round chainlinkRound
		want  string
	}{
		{chainlinkRound{big.NewInt(100), price, ago(2 * time.Hour), big.NewInt(100)}, "stale price: last updated 2h0m0s ago, exceeds max age 1h0m0s"},
		{chainlinkRound{big.NewInt(100), price, ago(maxAge + time.Second), big.NewInt(100)}, "stale price: last updated 1h0m1s ago, exceeds max age 1h0m0s"},
		{chainlinkRound{big.NewInt(100), big.NewInt(-1), ago(time.Minute), big.NewInt(100)}, "invalid price -1: must be > 0"},
		{chainlinkRound{big.NewInt(100), big.NewInt(0), ago(time.Minute), big.NewInt(100)}, "invalid price 0: must be > 0"},
		{chainlinkRound{big.NewInt(100), price, big.NewInt(0), big.NewInt(100)}, "round not complete: updatedAt is 0"},
		{chainlinkRound{big.NewInt(100), price, ago(time.Minute), big.NewInt(99)}, "stale round: answeredInRound 99 < roundId 100"},
		{chainlinkRound{big.NewInt(100), nil, ago(time.Minute), big.NewInt(100)}, "incomplete round data"},
		{chainlinkRound{big.NewInt(100), price, nil, big.NewInt(100)}, "incomplete round data"},
	} {
		got, err := validateChainlinkRound(tt.round, maxAge, now)
		if err == nil || err.Error() != tt.want {
			t.Errorf("got %v, %v; want the error %q", got, err, tt.want)
		}
	}
}

// Upstream's TestChainlinkMaxAge.
func TestChainlinkMaxAge(t *testing.T) {
	for _, tt := range []struct {
		in   []int
		want time.Duration
	}{
		{nil, 24 * time.Hour}, {[]int{}, 24 * time.Hour}, {[]int{0}, 24 * time.Hour},
		{[]int{-1}, 24 * time.Hour}, {[]int{3600}, time.Hour}, {[]int{60, 3600}, time.Minute},
	} {
		if got := chainlinkMaxAge(tt.in); got != tt.want {
			t.Errorf("chainlinkMaxAge(%v) = %s, want %s", tt.in, got, tt.want)
		}
	}
}

// fakeChain answers as a node would for one feed and one contract.
type fakeChain struct {
	updatedAt int64
	fail      bool
}

func (f fakeChain) ReadContract(_ context.Context, _, _, method, _ string) ([]any, error) {
	if f.fail || method != "retrieve" {
		return nil, errors.New("execution reverted")
	}
	return []any{big.NewInt(2500), []byte{0xab, 0xcd}}, nil
}

func (f fakeChain) LatestRoundData(_ context.Context, feed string) ([]any, error) {
	if f.fail {
		return nil, errors.New("dial tcp: connection refused")
	}
	return []any{big.NewInt(100), big.NewInt(262199000000), big.NewInt(f.updatedAt), big.NewInt(f.updatedAt), big.NewInt(100)}, nil
}

func TestChainHandlersKeepUpstreamsResultsAndMessages(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	args := func(vs ...any) []*structpb.Value {
		out := make([]*structpb.Value, len(vs))
		for i, v := range vs {
			out[i], _ = structpb.NewValue(v)
		}
		return out
	}
	fresh := fakeChain{updatedAt: now.Add(-time.Minute).Unix()}
	v, err := ChainlinkPrice(fresh, func() time.Time { return now })(context.Background(), args("0xfeed"))
	if err != nil || v.GetStructValue().GetFields()["$bigint"].GetStringValue() != "262199000000" {
		t.Fatalf("fresh round: %v, %v", v, err)
	}
	_, err = ChainlinkPrice(fresh, func() time.Time { return now })(context.Background(), args("0xfeed", 30))
	if err == nil || err.Error() != "chainlink feed 0xfeed: stale price: last updated 1m0s ago, exceeds max age 30s" {
		t.Fatalf("max age 30 s: %v", err)
	}
	_, err = ChainlinkPrice(fakeChain{fail: true}, time.Now)(context.Background(), args("0xfeed"))
	if err == nil || err.Error() != "Error when querying contract through rpc. contract: 0xfeed. error: dial tcp: connection refused" {
		t.Fatalf("unreachable feed: %v", err)
	}
	v, err = ReadContractData(fresh)(context.Background(), args("0x1234", "0x2e64cec1", "retrieve", "[]"))
	if err != nil || v.GetListValue().GetValues()[0].GetStructValue().GetFields()["$bigint"].GetStringValue() != "2500" {
		t.Fatalf("readContractData: %v, %v", v, err)
	}
	v, err = ReadContractData(fakeChain{fail: true})(context.Background(), args("0x1234", "0x", "retrieve", "[]"))
	if err != nil || v.GetKind() == nil || v.GetNullValue() != structpb.NullValue_NULL_VALUE {
		t.Fatalf("a failed read is null: %v, %v", v, err)
	}
}
