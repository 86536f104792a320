package tasks

import (
	"encoding/json"
	"errors"
	"time"

	"github.com/hibiken/asynq"
)

// DefaultAttemptTimeout bounds one attempt of a reset when the provider's
// configuration sets no attempt_timeout. Producer and worker must agree on
// it: the task's Asynq timeout is derived from it.
const DefaultAttemptTimeout = 2 * time.Minute

// TimeoutGrace is how much longer Asynq lets a task run than the attempt
// timeout, so that the worker's own deadline fires first and the attempt
// ends with an outcome rather than Asynq's bare context error.
const TimeoutGrace = 15 * time.Second

// TaskSettings are the provider's settings a reset task carries besides
// its payload.
type TaskSettings struct {
	// ID names the task (TaskID, CampaignTaskID, RandomTaskID).
	ID string
	// MaxRetries is how many times Asynq retries the task.
	MaxRetries int
	// AttemptTimeout bounds one attempt; 0 means DefaultAttemptTimeout.
	AttemptTimeout time.Duration
}

// Task is a reset ready to enqueue: asynq.Client.Enqueue(t.Task, t.Options...).
type Task struct {
	Task *asynq.Task
	// Queue is the queue the options put it on: the provider's campaign
	// queue for a campaign's task, its own queue otherwise.
	Queue   string
	Options []asynq.Option
}

// NewResetTask validates the payload and builds its task: the payload
// encoded, its requester in RequesterHeader, the provider's queue (its campaign queue for a campaign's row),
// the task ID, the retries and the timeout of one attempt plus
// TimeoutGrace. Every reset task resetq enqueues is built here.
func NewResetTask(p *Payload, s TaskSettings) (Task, error) {
	body, err := p.Encode()
	if err != nil {
		return Task{}, err
	}
	if s.ID == "" {
		return Task{}, errors.New("task id: is required")
	}
	if s.AttemptTimeout <= 0 {
		s.AttemptTimeout = DefaultAttemptTimeout
	}
	queue := QueueName(p.Provider)
	if p.Campaign != "" {
		queue = CampaignQueueName(p.Provider)
	}
	var headers map[string]string
	if p.Requester.Actor != "" {
		h, err := json.Marshal(p.Requester)
		if err != nil {
			return Task{}, err
		}
		headers = map[string]string{RequesterHeader: string(h)}
	}
	return Task{Task: asynq.NewTaskWithHeaders(TypeReset, body, headers), Queue: queue, Options: []asynq.Option{
		asynq.TaskID(s.ID), asynq.Queue(queue), asynq.MaxRetry(max(s.MaxRetries, 0)),
		asynq.Timeout(s.AttemptTimeout + TimeoutGrace),
	}}, nil
}
