package password

// Params are argon2id's cost parameters (RFC 9106 §3.1).
type Params struct {
	// Memory is the memory cost in KiB.
	Memory uint32
	// Time is the number of passes over memory.
	Time uint32
	// Threads is the degree of parallelism.
	Threads uint8
}

// DefaultParams is OWASP's baseline argon2id configuration: 19 MiB, 2 passes, 1 thread.
var DefaultParams = Params{Memory: 19456, Time: 2, Threads: 1}

// owaspMinimums are the equivalent configurations listed in the OWASP Password Storage
// Cheat Sheet; parameters at or above any one of them are strong enough.
var owaspMinimums = []Params{
	{Memory: 47104, Time: 1, Threads: 1},
	{Memory: 19456, Time: 2, Threads: 1},
	{Memory: 12288, Time: 3, Threads: 1},
	{Memory: 9216, Time: 4, Threads: 1},
	{Memory: 7168, Time: 5, Threads: 1},
}

// Upper bounds on parameters read from a stored hash. A hash is data: without bounds, a
// corrupted or planted record could make one login allocate unbounded memory or run for
// minutes.
const (
	maxMemory  = 1 << 20 // KiB, 1 GiB
	maxTime    = 20
	maxThreads = 16
)

// inBounds reports whether p is usable: argon2 needs at least one pass and thread and
// silently raises memory below 8 KiB per thread, which would make the encoded
// parameters lie.
func (p Params) inBounds() bool {
	return p.Time >= 1 && p.Time <= maxTime &&
		p.Threads >= 1 && p.Threads <= maxThreads &&
		p.Memory >= 8*uint32(p.Threads) && p.Memory <= maxMemory
}

// meetsOWASP reports whether p is at least one of OWASP's configurations in both memory
// and passes.
func (p Params) meetsOWASP() bool {
	for _, m := range owaspMinimums {
		if p.Memory >= m.Memory && p.Time >= m.Time && p.Threads >= m.Threads {
			return true
		}
	}
	return false
}

// check validates configured parameters.
func (p Params) check(allowWeak bool) error {
	if !p.inBounds() {
		return ErrInvalidConfig
	}
	if !allowWeak && !p.meetsOWASP() {
		return ErrWeakParams
	}
	return nil
}
