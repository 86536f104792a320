package worker

import (
	"context"
	"fmt"
	"strconv"

	"github.com/resetq/resetq/internal/campaigns"
	"github.com/resetq/resetq/tasks"
)

// campaignRow reads the campaign a task belongs to and checks its row
// header. A nil campaign with no error means it no longer exists.
func (s *Server) campaignRow(ctx context.Context, id, header string) (*campaigns.Campaign, int, error) {
	c, err := s.campaigns.Get(ctx, id)
	if err != nil || c == nil {
		return nil, 0, err
	}
	row, err := strconv.Atoi(header)
	if err != nil || row < 0 || row >= c.Rows {
		return nil, 0, fmt.Errorf("header %s=%q names no row of campaign %s (%d rows)", tasks.CampaignRowHeader, header, id, c.Rows)
	}
	return c, row, nil
}

// startCampaignTask prepares a campaign's task. It reports done when the
// task needs no reset: its row has an outcome already (a redelivery), or
// its campaign is paused, cancelled or gone. A paused campaign's task
// gives its row back to the feeder, which sends it again after the resume.
func (s *Server) startCampaignTask(ctx context.Context, t *task, header string) (done bool, err error) {
	p := t.payload
	c, row, err := s.campaignRow(ctx, p.Campaign, header)
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
