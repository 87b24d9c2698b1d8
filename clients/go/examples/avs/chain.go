package avs

import (
	"context"
	"fmt"
	"math/big"
	"time"

	"google.golang.org/protobuf/types/known/structpb"

	nodecell "github.com/nodecell/nodecell/clients/go"
)

// ChainReader is what the chain helpers need of AVS's RPC connection (the go-ethereum client
// macros.SetRpc dials): AVS implements it with its macros.QueryContractRaw and
// macros.QueryContract, and the sandbox never sees the RPC URL.
type ChainReader interface {
	// ReadContract is readContractData's call: an eth_call to address with data (hex), its
	// output unpacked with method of the ABI (JSON). Integers come back as *big.Int.
	ReadContract(ctx context.Context, address, data, method, contractABI string) ([]any, error)
	// LatestRoundData calls latestRoundData on a Chainlink feed: (roundId, answer,
	// startedAt, updatedAt, answeredInRound), ABI-decoded.
	LatestRoundData(ctx context.Context, feed string) ([]any, error)
}

// The names AVS gives its Chainlink helper (all three are the same function upstream).
var chainlinkNames = []string{"priceChainlink", "chainlinkPrice", "latestRoundDataChainlink"}

// ChainHandlers serves readContractData and the Chainlink price helpers from r.
func ChainHandlers(r ChainReader) nodecell.Handlers {
	h := nodecell.Handlers{"readContractData": ReadContractData(r)}
	for _, name := range chainlinkNames {
		h[name] = ChainlinkPrice(r, time.Now)
	}
	return h
}

// ReadContractData serves readContractData(contractAddress, data, method, contractABI) as
// upstream's macro: the unpacked outputs as an array, big integers as BigInts; any error
// (the ABI, the call, the unpacking) gives null.
func ReadContractData(r ChainReader) nodecell.Handler {
	return func(ctx context.Context, args []*structpb.Value) (*structpb.Value, error) {
		out, err := r.ReadContract(ctx, argString(args, 0), argString(args, 1), argString(args, 2), argString(args, 3))
		if err != nil || out == nil {
			return structpb.NewNullValue(), nil
		}
		list := &structpb.ListValue{}
		for _, v := range out {
			value, err := abiValue(v)
			if err != nil {
				return structpb.NewNullValue(), nil
			}
			list.Values = append(list.Values, value)
		}
		return structpb.NewListValue(list), nil
	}
}

// ChainlinkPrice serves chainlinkPrice(feed, maxAgeSeconds?) as upstream's macro: the
// feed's latest answer as a BigInt, or an error with upstream's message when the feed cannot
// be read or its round is incomplete, non-positive or stale (older than maxAgeSeconds when
// that is > 0, else 24 h). Upstream panics there (an uncatchable crash under goja); here user
// code gets a catchable Error.
func ChainlinkPrice(r ChainReader, now func() time.Time) nodecell.Handler {
	return func(ctx context.Context, args []*structpb.Value) (*structpb.Value, error) {
		feed := argString(args, 0)
		var maxAgeSeconds []int
		for _, a := range args[min(1, len(args)):] {
			maxAgeSeconds = append(maxAgeSeconds, int(a.GetNumberValue()))
		}
		output, err := r.LatestRoundData(ctx, feed)
		if err != nil {
			return nil, fmt.Errorf("Error when querying contract through rpc. contract: %s. error: %w", feed, err)
		}
		if len(output) < 5 {
			return nil, fmt.Errorf("chainlink feed %s: unexpected latestRoundData output (%d fields)", feed, len(output))
		}
		answer, err := validateChainlinkRound(chainlinkRound{
			roundID:         bigFromABI(output[0]),
			answer:          bigFromABI(output[1]),
			updatedAt:       bigFromABI(output[3]),
			answeredInRound: bigFromABI(output[4]),
		}, chainlinkMaxAge(maxAgeSeconds), now())
		if err != nil {
			return nil, fmt.Errorf("chainlink feed %s: %w", feed, err)
		}
		return BigInt(answer), nil
	}
}

// BigInt is n as a host-call reply that user code receives as a BigInt.
func BigInt(n *big.Int) *structpb.Value {
	return structpb.NewStructValue(&structpb.Struct{Fields: map[string]*structpb.Value{
		"$bigint": structpb.NewStringValue(n.String()),
	}})
}

// abiValue is one ABI-decoded output as a reply value: big integers as BigInts, byte
// arrays as 0x-hex, anything with a String method (an address) as that text.
func abiValue(v any) (*structpb.Value, error) {
	switch x := v.(type) {
	case *big.Int:
		return BigInt(x), nil
	case []byte:
		return structpb.NewStringValue(fmt.Sprintf("0x%x", x)), nil
	case fmt.Stringer:
		return structpb.NewStringValue(x.String()), nil
	case []any:
		list := &structpb.ListValue{}
		for _, item := range x {
			value, err := abiValue(item)
			if err != nil {
				return nil, err
			}
			list.Values = append(list.Values, value)
		}
		return structpb.NewListValue(list), nil
	}
	return structpb.NewValue(v)
}

// chainlinkDefaultMaxAge is upstream's staleness bound when the caller gives none.
const chainlinkDefaultMaxAge = 24 * time.Hour

// chainlinkRound is the decoded latestRoundData tuple (startedAt unused).
type chainlinkRound struct {
	roundID         *big.Int
	answer          *big.Int
	updatedAt       *big.Int
	answeredInRound *big.Int
}

// validateChainlinkRound is upstream's (macros/exp.go), message for message.
func validateChainlinkRound(r chainlinkRound, maxAge time.Duration, now time.Time) (*big.Int, error) {
	if r.answer == nil || r.updatedAt == nil {
		return nil, fmt.Errorf("incomplete round data")
	}
	if r.answer.Sign() <= 0 {
		return nil, fmt.Errorf("invalid price %s: must be > 0", r.answer)
	}
	if r.updatedAt.Sign() == 0 {
		return nil, fmt.Errorf("round not complete: updatedAt is 0")
	}
	if r.answeredInRound != nil && r.roundID != nil && r.answeredInRound.Cmp(r.roundID) < 0 {
		return nil, fmt.Errorf("stale round: answeredInRound %s < roundId %s", r.answeredInRound, r.roundID)
	}
	updatedAt := time.Unix(r.updatedAt.Int64(), 0)
	if age := now.Sub(updatedAt); age > maxAge {
		return nil, fmt.Errorf("stale price: last updated %s ago, exceeds max age %s", age.Truncate(time.Second), maxAge)
	}
	return r.answer, nil
}

// chainlinkMaxAge is upstream's: the first value when it is > 0 (seconds), else 24 h.
func chainlinkMaxAge(maxAgeSeconds []int) time.Duration {
	if len(maxAgeSeconds) > 0 && maxAgeSeconds[0] > 0 {
		return time.Duration(maxAgeSeconds[0]) * time.Second
	}
	return chainlinkDefaultMaxAge
}

func bigFromABI(v any) *big.Int {
	b, _ := v.(*big.Int)
	return b
}
