package campaigns

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hibiken/asynq"

	"github.com/resetq/resetq/tasks"
)

// Pause stops a campaign from sending more resets: the tasks waiting in
// the queue are taken back (resets already with the IdP finish). Pausing a
// paused campaign does nothing.
func (m *Manager) Pause(ctx context.Context, name string) (*Campaign, error) {
	camp, err := m.moveTo(ctx, name, "pause", []Status{Running, Scheduled}, Paused)
	if err != nil {
		return nil, err
	}
	if err := m.withdrawQueued(ctx, camp, false); err != nil {
		return nil, err
	}
	return m.Get(ctx, name)
}

// Resume lets a paused campaign go on where it stopped.
func (m *Manager) Resume(ctx context.Context, name string) (*Campaign, error) {
	camp, err := m.Get(ctx, name)
	if err != nil {
		return nil, err
	}
	if camp.Status == Running || camp.Status == Scheduled {
		return camp, nil
	}
	to := Running
	if camp.StartAt.After(time.Now()) {
		to = Scheduled
	}
	if err := m.move(ctx, name, "resume", []Status{Paused}, to); err != nil {
		return nil, err
	}
	return m.Get(ctx, name)
}

// Cancel ends a campaign: every user not yet sent to the IdP ends
// cancelled (resets already with the IdP finish). Cancelling a cancelled
// campaign does nothing new.
func (m *Manager) Cancel(ctx context.Context, name string) (*Campaign, error) {
	camp, err := m.moveTo(ctx, name, "cancel", []Status{Running, Scheduled, Paused}, Cancelled)
	if err != nil {
		return nil, err
	}
	if _, err := m.store.CancelWaiting(ctx, camp); err != nil {
		return nil, err
	}
	if err := m.withdrawQueued(ctx, camp, true); err != nil {
		return nil, err
	}
	return m.Get(ctx, name)
}

// moveTo moves the campaign to status to from one of from, unless it is
// there already, and returns it as it was read before the move.
func (m *Manager) moveTo(ctx context.Context, name, verb string, from []Status, to Status) (*Campaign, error) {
	camp, err := m.Get(ctx, name)
	if err != nil {
		return nil, err
	}
	if camp.Status != to {
		err = m.move(ctx, name, verb, from, to)
	}
	return camp, err
}

// move changes the campaign's status from one of from to to, or says why
// it cannot.
func (m *Manager) move(ctx context.Context, name, verb string, from []Status, to Status) error {
	ok, err := m.store.SetStatus(ctx, name, from, to)
	if err != nil || ok {
		return err
	}
	camp, err := m.Get(ctx, name)
	if err != nil {
		return err
	}
	return fmt.Errorf("%w: cannot %s campaign %s, which is %s", ErrState, verb, name, camp.Status)
}

// withdrawQueued takes the campaign's tasks that wait in the queue back:
// their rows return to waiting, or end cancelled. A task a worker has
// started is left to finish.
func (m *Manager) withdrawQueued(ctx context.Context, camp *Campaign, cancel bool) error {
	return m.eachQueued(ctx, camp, func(row int, taskID string) error {
		err := m.insp.DeleteTask(tasks.CampaignQueueName(camp.Provider), taskID)
		switch {
		case err == nil, errors.Is(err, asynq.ErrTaskNotFound), errors.Is(err, asynq.ErrQueueNotFound):
			// Gone, or deleted now: a task that finished has recorded its
			// outcome first, which Withdraw leaves alone.
			_, err = m.store.Withdraw(ctx, camp, row, cancel)
			return err
		}
		return nil // active: it finishes, or sees the new status itself
	})
}
