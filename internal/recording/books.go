package recording

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/resetq/resetq/internal/campaigns"
	"github.com/resetq/resetq/internal/outcomes"
	"github.com/resetq/resetq/tasks"
)

// Books hands out each task's Recorder, Persistent with a retry window.
type Books struct {
	outcomes  *outcomes.Store
	campaigns *campaigns.Store
	within    time.Duration
}

// NewBooks returns Books over both stores whose writes are retried for up
// to within.
func NewBooks(o *outcomes.Store, c *campaigns.Store, within time.Duration) *Books {
	return &Books{outcomes: o, campaigns: c, within: within}
}

// Task is the Recorder of a standalone task, or of a task whose payload
// cannot be read.
func (b *Books) Task(taskID string) Recorder {
	return Persistent(ForTask(b.outcomes, taskID), b.within)
}

// Open is the Recorder of the task with payload p: its campaign row for a
// campaign's task, whose campaign it returns too, its own record for any
// other. A nil Recorder with no error: the campaign no longer exists. The
// row is the payload's, or, in a task an earlier build queued, its row
// header's (tasks.CampaignRowHeader) among headers.
func (b *Books) Open(ctx context.Context, taskID string, p *tasks.Payload, headers map[string]string) (Recorder, *campaigns.Campaign, error) {
	if p.Campaign == "" {
		return b.Task(taskID), nil, nil
	}
	c, err := b.campaigns.Get(ctx, p.Campaign)
	if err != nil || c == nil {
		return nil, nil, err
	}
	row := p.CampaignRow
	if h, ok := headers[tasks.CampaignRowHeader]; ok {
		if row, err = strconv.Atoi(h); err != nil {
			return nil, nil, fmt.Errorf("header %s=%q is not a row number", tasks.CampaignRowHeader, h)
		}
	}
	if row < 0 || row >= c.Rows {
		return nil, nil, fmt.Errorf("row %d is no row of campaign %s (%d rows)", row, c.ID, c.Rows)
	}
	return Persistent(ForCampaignRow(b.campaigns, c, row, taskID), b.within), c, nil
}
