package deploysecret

import "time"

// SetRecheck changes how often s reads the secret again.
func (s *Source) SetRecheck(d time.Duration) { s.recheck = d }
