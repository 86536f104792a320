package campaigns

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hibiken/asynq"

	"github.com/resetq/resetq/tasks"
)

// FeederConfig configures a Feeder.
type FeederConfig struct {
	// Interval is how often the feeder looks at the campaigns (200 ms).
	Interval time.Duration
	// LeaseTTL is how long a campaign stays with a feeder that stopped
	// renewing its lease (a crashed process): 15 s.
	LeaseTTL time.Duration
	// StallAfter: when a campaign's queued rows make no progress for this
	// long, the feeder checks that their tasks still exist, and sends
	// again the rows of tasks that were lost (5 min).
	StallAfter time.Duration
	// Keep is how long a finished campaign stays readable (30 days).
	Keep time.Duration
	// Concurrency is how many tasks one feeder enqueues at once (8).
	Concurrency int
	// OnFinished is called once for every campaign that finishes (every
	// row has an outcome), to send campaign.completed. An error makes the
	// feeder call it again later.
	OnFinished func(ctx context.Context, c *Campaign) error
	Logger     *slog.Logger
}

// Feeder moves campaigns' rows onto their provider's campaign queue, a
// window at a time, as their tasks finish. Run one in every worker
// process: a lease in Redis gives each campaign to one feeder at a time,
// and another takes over within LeaseTTL when its process dies.
type Feeder struct {
	m     *Manager
	cfg   FeederConfig
	owner string
	log   *slog.Logger
	// progress remembers, per campaign, when its finished count last
	// moved.
	progress map[string]progress
	passes   atomic.Uint64
}

// Passes counts the feeder's looks at the campaigns so far.
func (f *Feeder) Passes() uint64 { return f.passes.Load() }

type progress struct {
	finished int
	since    time.Time
}

// NewFeeder returns a feeder for the manager's providers.
func (m *Manager) NewFeeder(cfg FeederConfig) *Feeder {
	if cfg.Interval <= 0 {
		cfg.Interval = 200 * time.Millisecond
	}
	if cfg.LeaseTTL <= 0 {
		cfg.LeaseTTL = 15 * time.Second
	}
	if cfg.StallAfter <= 0 {
		cfg.StallAfter = 5 * time.Minute
	}
	if cfg.Keep <= 0 {
		cfg.Keep = 30 * 24 * time.Hour
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = 8
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	host, _ := os.Hostname()
	return &Feeder{m: m, cfg: cfg, log: cfg.Logger, progress: map[string]progress{},
		owner: fmt.Sprintf("%s-%d-%s", host, os.Getpid(), randomHex(4))}
}

// Run feeds until ctx is done, then gives its leases up.
func (f *Feeder) Run(ctx context.Context) {
	t := time.NewTicker(f.cfg.Interval)
	defer t.Stop()
	held := map[string]bool{}
	defer func() {
		for id := range held {
			_ = f.m.store.Release(context.WithoutCancel(ctx), id, f.owner)
		}
	}()
	for {
		if err := f.tick(ctx, held); err != nil && ctx.Err() == nil {
			f.log.Warn("campaign feeder: could not look at the campaigns; trying again", "error", err)
		}
		f.passes.Add(1)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (f *Feeder) tick(ctx context.Context, held map[string]bool) error {
	ids, err := f.m.store.Active(ctx)
	if err != nil {
		return err
	}
	for _, id := range ids {
		c, err := f.m.store.Get(ctx, id)
		if err != nil {
			return err
		}
		if c == nil {
			if err := f.m.store.Forget(ctx, id); err != nil {
				return err
			}
			continue
		}
		if err := f.campaign(ctx, c, held); err != nil && ctx.Err() == nil {
			f.log.Warn("campaign feeder: trying again", "campaign", id, "error", err)
		}
	}
	return nil
}

func (f *Feeder) campaign(ctx context.Context, c *Campaign, held map[string]bool) error {
	if c.Done() {
		delete(f.progress, c.ID)
		return f.notice(ctx, c)
	}
	if c.Status == Importing {
		return f.dropAbandoned(ctx, c)
	}
	if _, ok := f.m.providers[c.Provider]; !ok {
		return nil // another process's provider
	}
	if c.Status == Scheduled {
		if c.StartAt.After(time.Now()) {
			return nil
		}
		if ok, err := f.m.store.SetStatus(ctx, c.ID, []Status{Scheduled}, Running); err != nil || !ok {
			return err
		}
		f.log.Info("campaign started", "campaign", c.ID, "provider", c.Provider, "rows", c.Rows)
		c.Status = Running
	}
	ok, err := f.m.store.Lease(ctx, c.ID, f.owner, f.cfg.LeaseTTL)
	if err != nil || !ok {
		delete(held, c.ID)
		return err
	}
	held[c.ID] = true
	if c.Status == Running {
		if err := f.topUp(ctx, c); err != nil {
			return err
		}
	}
	return f.checkStall(ctx, c)
}

// abandonAfter is how old an import with nobody holding its lease must be
// before a feeder removes it: its `campaign start` died half way.
const abandonAfter = 10 * time.Minute

// dropAbandoned removes a campaign whose import died half way. Nothing of
// it was ever fed; starting the file again imports it afresh.
func (f *Feeder) dropAbandoned(ctx context.Context, c *Campaign) error {
	if time.Since(c.CreatedAt) < abandonAfter || !f.m.abandoned(ctx, c) {
		return nil
	}
	f.log.Warn("removing a campaign whose import was interrupted; start its file again to import it", "campaign", c.ID)
	return f.m.store.Delete(ctx, c)
}

// notice hands a finished campaign's event on, once, and retires it. A
// shutdown does not interrupt it between the claim and its confirmation.
func (f *Feeder) notice(ctx context.Context, c *Campaign) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if !c.Notified {
		ok, err := f.m.store.ClaimNotice(ctx, c.ID, f.owner, time.Minute)
		if err != nil || !ok {
			return err
		}
		if f.cfg.OnFinished != nil {
			if err := f.cfg.OnFinished(ctx, c); err != nil {
				return fmt.Errorf("sending campaign.completed: %w", err)
			}
		}
		if err := f.m.store.Noticed(ctx, c.ID); err != nil {
			return err
		}
		f.log.Info("campaign finished", "campaign", c.ID, "provider", c.Provider, "status", c.Status,
			"succeeded", c.Succeeded, "skipped", c.Skipped, "failed", c.Failed, "cancelled", c.Cancelled)
	}
	return f.m.store.Retire(ctx, c, f.cfg.Keep)
}

// feed is one row to put on the queue, and what became of it.
type feed struct {
	row    int
	user   tasks.User
	meta   map[string]string
	result feedResult
	err    error
}

type feedResult int

const (
	notFed  feedResult = iota // an error, or its task is being run or removed: look again later
	fedNow                    // queued now, or found waiting in the queue
	settled                   // it got an outcome instead
)

// topUp fills the campaign's window from its cursor on, and moves the
// cursor over every row that needs nothing more.
func (f *Feeder) topUp(ctx context.Context, c *Campaign) error {
	free := c.Window - c.Inflight
	if free <= 0 || c.Cursor >= c.Rows {
		return nil
	}
	cursor, next, blocked := c.Cursor, c.Cursor, false
	var marked []int
	var failed error
	for from := cursor; from < c.Rows && free > 0 && failed == nil; {
		n := from / ChunkRows
		end := min((n+1)*ChunkRows, c.Rows)
		recs, err := f.m.store.Outcomes(ctx, c, from, end-from)
		if err != nil {
			return err
		}
		fed, err := f.m.store.Fed(ctx, c, from, end-from)
		if err != nil {
			return err
		}
		var rows []Row
		var batch []*feed
		i := from
		for ; i < end && len(batch) < free; i++ {
			if recs[i-from].Outcome != "" || fed[i-from] {
				continue
			}
			if rows == nil {
				if rows, err = f.m.store.Chunk(ctx, c, n); err != nil {
					return err
				}
			}
			r := rows[i-n*ChunkRows]
			batch = append(batch, &feed{row: i, user: r.User, meta: r.Meta})
		}
		if len(batch) > 0 {
			taskID, err := f.m.taskIDs(ctx, c)
			if err != nil {
				return err
			}
			f.enqueue(ctx, c, batch, taskID)
		}
		// Walk the rows looked at in order: the cursor passes every row
		// that needs nothing more, up to the first that does.
		b := 0
		for r := from; r < i; r++ {
			var done bool
			if b < len(batch) && batch[b].row == r {
				fd := batch[b]
				b++
				done = fd.result != notFed
				if fd.result == fedNow {
					marked = append(marked, r)
					free--
				}
				if fd.err != nil && failed == nil {
					failed = fd.err
				}
			} else {
				done = true
			}
			if !done {
				blocked = true
			}
			if !blocked {
				next = r + 1
			}
		}
		from = i
	}
	if _, err := f.m.store.MarkFed(ctx, c, marked); err != nil {
		return err
	}
	if next > cursor {
		if _, err := f.m.store.AdvanceCursor(ctx, c.ID, cursor, next); err != nil {
			return err
		}
	}
	return failed
}

// enqueue puts the batch's tasks on the campaign queue, a few at a time.
func (f *Feeder) enqueue(ctx context.Context, c *Campaign, batch []*feed, taskID func(tasks.User) string) {
	prov := f.m.providers[c.Provider]
	now := time.Now().UTC().Truncate(time.Millisecond)
	sem := make(chan struct{}, f.cfg.Concurrency)
	var wg sync.WaitGroup
	for _, b := range batch {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			p := tasks.Payload{V: tasks.PayloadVersion, Provider: c.Provider, User: b.user, Actions: c.Actions,
				Campaign: c.ID, CampaignRow: b.row, Meta: b.meta, RequestedAt: now, Requester: c.Requester}
			id := taskID(b.user)
			task, err := tasks.NewResetTask(&p, prov.taskSettings(id))
			if err != nil {
				// Rows are checked at import, so this is a row an older
				// build imported: it fails rather than block the campaign.
				_, b.err = f.m.store.RecordOutcome(ctx, c, b.row, Record{
					Outcome: tasks.Failed, Reason: tasks.ReasonInvalidPayload, Finished: time.Now()})
				if b.err == nil {
					b.result = settled
				}
				return
			}
			_, err = f.m.queue.EnqueueContext(ctx, task.Task, task.Options...)
			switch {
			case err == nil:
				b.result = fedNow
			case errors.Is(err, asynq.ErrTaskIDConflict):
				// Queued before (by a feeder that died before recording it),
				// or finishing right now: only a task that waits counts.
				info, ierr := f.m.insp.GetTaskInfo(task.Queue, id)
				if ierr == nil && info.State != asynq.TaskStateActive && info.State != asynq.TaskStateCompleted {
					b.result = fedNow
				}
			default:
				b.err = fmt.Errorf("enqueueing row %d: %w", b.row, err)
			}
		})
	}
	wg.Wait()
}

// checkStall looks for queued rows whose task is gone, when the campaign
// has made no progress for StallAfter: Redis lost it (a failover), or a
// worker dropped it while the campaign was being paused. Such a row is
// sent again (or, in a cancelled campaign, ends cancelled). A row whose
// task Asynq archived without an outcome (its lease ran out on its last
// try) ends failed.
func (f *Feeder) checkStall(ctx context.Context, c *Campaign) error {
	p, seen := f.progress[c.ID]
	if !seen || p.finished != c.Finished() || c.Inflight == 0 {
		f.progress[c.ID] = progress{finished: c.Finished(), since: time.Now()}
		return nil
	}
	if time.Since(p.since) < f.cfg.StallAfter {
		return nil
	}
	f.progress[c.ID] = progress{finished: c.Finished(), since: time.Now()}
	if st, err := f.m.halts.Get(ctx, c.Provider); err != nil || st != nil {
		return err // halted: its tasks wait in the paused queue
	}
	queue := tasks.CampaignQueueName(c.Provider)
	var lost, archived int
	err := f.m.eachQueued(ctx, c, func(row int, id string) error {
		info, err := f.m.insp.GetTaskInfo(queue, id)
		switch {
		case errors.Is(err, asynq.ErrTaskNotFound), errors.Is(err, asynq.ErrQueueNotFound):
			lost++
			_, err = f.m.store.Withdraw(ctx, c, row, c.Status == Cancelled)
			return err
		case err != nil:
			return err
		case info.State != asynq.TaskStateArchived:
			return nil
		}
		rec, err := f.m.store.Outcome(ctx, c, row)
		if err != nil || rec.Outcome != "" {
			return err
		}
		archived++
		_, err = f.m.store.RecordOutcome(ctx, c, row, Record{Outcome: tasks.Failed,
			Reason: tasks.ReasonRetriesExhausted, Attempts: info.Retried + 1, Finished: time.Now()})
		return err
	})
	if lost+archived > 0 {
		f.log.Warn("campaign rows had lost their tasks; lost ones are sent again, archived ones ended failed",
			"campaign", c.ID, "lost", lost, "archived", archived)
	}
	return err
}
