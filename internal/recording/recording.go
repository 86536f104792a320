package recording

import (
	"context"
	"time"

	"github.com/sethvargo/go-retry"

	"github.com/resetq/resetq/internal/campaigns"
	"github.com/resetq/resetq/internal/outcomes"
	"github.com/resetq/resetq/tasks"
)

// Recorder keeps one task's outcome.
type Recorder interface {
	// Start says whether the task runs. It does not when it has an
	// outcome already (a redelivery: prev is that outcome) or when what
	// it belongs to has stopped (prev is nil then).
	Start(ctx context.Context) (prev *tasks.Result, run bool, err error)
	// Record keeps the task's outcome.
	Record(ctx context.Context, r tasks.Result) error
}

// Task is a standalone task's record.
type Task struct {
	store *outcomes.Store
	id    string
}

// ForTask returns the Recorder of a standalone task.
func ForTask(store *outcomes.Store, taskID string) *Task { return &Task{store: store, id: taskID} }

// Start finds a success recorded for the task: the IdP accepted it, and
// whatever brought it back (a crash before the acknowledgement, a shutdown
// that requeued it, a re-enqueue of the same key) it is not sent again. A
// task that was skipped or failed and is enqueued again runs again.
func (t *Task) Start(ctx context.Context) (*tasks.Result, bool, error) {
	prev, err := t.store.Get(ctx, t.id)
	if err != nil {
		return nil, false, err
	}
	if prev != nil && prev.Outcome == tasks.Succeeded {
		return prev, false, nil
	}
	return nil, true, nil
}

// Record writes the task's record.
func (t *Task) Record(ctx context.Context, r tasks.Result) error { return t.store.Put(ctx, r) }

// CampaignRow is a campaign's task's row.
type CampaignRow struct {
	store    *campaigns.Store
	c        *campaigns.Campaign
	row      int
	taskID   string
	provider string
}

// ForCampaignRow returns the Recorder of the task of a campaign's row.
func ForCampaignRow(store *campaigns.Store, c *campaigns.Campaign, row int, taskID string) *CampaignRow {
	return &CampaignRow{store: store, c: c, row: row, taskID: taskID, provider: c.Provider}
}

// Start finds any outcome on the row: a row ends once. A row without one
// whose campaign is paused goes back to the feeder, which sends it again
// after the resume; a cancelled campaign's row ends cancelled.
func (r *CampaignRow) Start(ctx context.Context) (*tasks.Result, bool, error) {
	rec, err := r.store.Outcome(ctx, r.c, r.row)
	if err != nil {
		return nil, false, err
	}
	if rec.Outcome != "" {
		return &tasks.Result{TaskID: r.taskID, Provider: r.provider, Outcome: rec.Outcome, Reason: rec.Reason,
			Attempts: rec.Attempts, Campaign: r.c.ID, FinishedAt: rec.Finished}, false, nil
	}
	switch r.c.Status {
	case campaigns.Paused, campaigns.Cancelled:
		_, err := r.store.Withdraw(context.WithoutCancel(ctx), r.c, r.row, r.c.Status == campaigns.Cancelled)
		return nil, false, err
	}
	return nil, true, nil
}

// Record writes the row's outcome, which counts it in the campaign.
func (r *CampaignRow) Record(ctx context.Context, res tasks.Result) error {
	_, err := r.store.RecordOutcome(ctx, r.c, r.row, campaigns.Record{
		Outcome: res.Outcome, Reason: res.Reason, Attempts: res.Attempts, Finished: res.FinishedAt})
	return err
}

// Persistent records through rec, retrying a failed write for up to
// within: a Redis restart or a Sentinel failover must not leave a success
// unrecorded, or its redelivery sends a second email.
func Persistent(rec Recorder, within time.Duration) Recorder { return persistent{rec, within} }

type persistent struct {
	Recorder
	within time.Duration
}

func (p persistent) Record(ctx context.Context, r tasks.Result) error {
	ctx, cancel := context.WithTimeout(ctx, p.within)
	defer cancel()
	b := retry.WithCappedDuration(time.Second, retry.NewExponential(50*time.Millisecond))
	return retry.Do(ctx, b, func(ctx context.Context) error {
		return retry.RetryableError(p.Recorder.Record(ctx, r))
	})
}
