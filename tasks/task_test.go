package tasks_test

import (
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/stretchr/testify/require"

	"github.com/resetq/resetq/tasks"
)

// optionValues returns the value of each option by its type.
func optionValues(opts []asynq.Option) map[asynq.OptionType]any {
	out := map[asynq.OptionType]any{}
	for _, o := range opts {
		out[o.Type()] = o.Value()
	}
	return out
}

func TestNewResetTaskCarriesThePayloadAndTheProvidersSettings(t *testing.T) {
	t.Parallel()
	campaign := validPayload()
	campaign.Campaign, campaign.CampaignRow = "breach", 7
	tests := []struct {
		name    string
		payload tasks.Payload
		set     tasks.TaskSettings
		queue   string
		timeout time.Duration
		retries int
	}{
		{"a single reset goes to the provider's queue", validPayload(),
			tasks.TaskSettings{ID: "r-1", MaxRetries: 4, AttemptTimeout: 30 * time.Second},
			"resetq-corp", 45 * time.Second, 4},
		{"a campaign's row goes to its campaign queue", campaign,
			tasks.TaskSettings{ID: "r-2", MaxRetries: 10, AttemptTimeout: time.Minute},
			"resetq-corp.campaigns", 75 * time.Second, 10},
		{"no attempt timeout takes the default", validPayload(), tasks.TaskSettings{ID: "r-3"},
			"resetq-corp", tasks.DefaultAttemptTimeout + tasks.TimeoutGrace, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			task, err := tasks.NewResetTask(&tc.payload, tc.set)
			require.NoError(t, err)
			require.Equal(t, tasks.TypeReset, task.Task.Type())
			require.Equal(t, tc.queue, task.Queue)
			got, err := tasks.Decode(task.Task.Payload())
			require.NoError(t, err)
			require.Equal(t, tc.payload.Campaign, got.Campaign)
			require.Equal(t, tc.payload.CampaignRow, got.CampaignRow)
			require.Equal(t, tc.payload.User, got.User)
			opts := optionValues(task.Options)
			require.Equal(t, tc.set.ID, opts[asynq.TaskIDOpt])
			require.Equal(t, tc.queue, opts[asynq.QueueOpt])
			require.Equal(t, tc.retries, opts[asynq.MaxRetryOpt])
			require.Equal(t, tc.timeout, opts[asynq.TimeoutOpt])
		})
	}
}

func TestNewResetTaskRefusesAnInvalidPayloadOrNoID(t *testing.T) {
	t.Parallel()
	p := validPayload()
	p.User = tasks.User{}
	_, err := tasks.NewResetTask(&p, tasks.TaskSettings{ID: "r-1"})
	require.ErrorContains(t, err, "user:")
	p = validPayload()
	_, err = tasks.NewResetTask(&p, tasks.TaskSettings{})
	require.ErrorContains(t, err, "task id")
}
