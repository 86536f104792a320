package worker

import (
	"context"
	"fmt"
	"strconv"

	"github.com/hibiken/asynq"

	"github.com/resetq/resetq/internal/campaigns"
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

// startCampaignTask prepares a campaign's task. It reports done when the
// task needs no reset: its row has an outcome already (a redelivery), or
// its campaign is paused, cancelled or gone. A paused campaign's task
// gives its row back to the feeder, which sends it again after the resume.
func (s *Server) startCampaignTask(ctx context.Context, t *task, at *asynq.Task) (done bool, err error) {
	p := t.payload
	c, row, err := s.campaignRow(ctx, at, p)
	if err != nil {
		return true, err
	}
	if c == nil {
		s.log.Warn("the task's campaign no longer exists; dropping the task", "task_id", t.id, "campaign", p.Campaign)
		return true, nil
	}
	rec, err := s.campaigns.Outcome(ctx, c, row)
	if err != nil {
		return true, err
	}
	if rec.Outcome != "" {
		s.log.Info("campaign row already has an outcome; not sending it again",
			"task_id", t.id, "campaign", c.ID, "outcome", rec.Outcome)
		if rec.Outcome != tasks.Succeeded {
			return true, nil
		}
		return true, s.emit(ctx, t, tasks.Result{TaskID: t.id, Provider: p.Provider, Outcome: rec.Outcome,
			Reason: rec.Reason, Attempts: rec.Attempts, Campaign: c.ID, FinishedAt: rec.Finished})
	}
	switch c.Status {
	case campaigns.Paused, campaigns.Cancelled:
		_, err := s.campaigns.Withdraw(context.WithoutCancel(ctx), c, row, c.Status == campaigns.Cancelled)
		return true, err
	}
	t.campaign, t.row = c, row
	return false, nil
}
