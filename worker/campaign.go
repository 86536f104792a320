package worker

import (
	"context"
	"fmt"
	"strconv"

	"github.com/hibiken/asynq"

	"github.com/resetq/resetq/internal/campaigns"
	"github.com/resetq/resetq/internal/ratelimit"
	"github.com/resetq/resetq/internal/recording"
	"github.com/resetq/resetq/tasks"
)

// campaignRow reads the campaign a task belongs to and checks its row. A
// nil campaign with no error means it no longer exists. The row is the
// payload's, or, in a task an earlier build queued, its row header's.
func (s *Server) campaignRow(ctx context.Context, at *asynq.Task, p *tasks.Payload) (*campaigns.Campaign, int, error) {
	c, err := s.campaigns.Get(ctx, p.Campaign)
	if err != nil || c == nil {
		return nil, 0, err
	}
	row := p.CampaignRow
	if h, ok := at.Headers()[tasks.CampaignRowHeader]; ok {
		if row, err = strconv.Atoi(h); err != nil {
			return nil, 0, fmt.Errorf("header %s=%q is not a row number", tasks.CampaignRowHeader, h)
		}
	}
	if row < 0 || row >= c.Rows {
		return nil, 0, fmt.Errorf("row %d is no row of campaign %s (%d rows)", row, c.ID, c.Rows)
	}
	return c, row, nil
}

// bind finds the campaign row of a campaign's task: its outcome goes there
// and its campaign's rate limit applies. It reports false, with no error,
// when the campaign no longer exists.
func (s *Server) bind(ctx context.Context, t *task, at *asynq.Task) (ok bool, err error) {
	if t.payload.Campaign == "" {
		return true, nil
	}
	c, row, err := s.campaignRow(ctx, at, t.payload)
	if err != nil || c == nil {
		return false, err
	}
	t.rec = recording.Persistent(recording.ForCampaignRow(s.campaigns, c, row, t.id), recordWithin)
	if c.RateN > 0 {
		t.rules = []ratelimit.Rule{ratelimit.Campaign(c.ID, c.RateN, c.RatePer)}
	}
	return true, nil
}
