package tasks

import "strings"

// QueuePrefix starts the name of every Asynq queue resetq uses, so resetq can
// share a Redis with other Asynq applications without mixing work.
const QueuePrefix = "resetq-"

// WebhookQueueName is the queue webhook deliveries travel on. Provider names
// may not be "webhooks", so it never collides with a provider's queue.
const WebhookQueueName = QueuePrefix + "webhooks"

// ReservedProviderNames cannot name a provider because their queue names are
// taken.
var ReservedProviderNames = []string{"webhooks"}

// QueueName returns the Asynq queue of a provider. One queue per provider
// keeps one provider's trouble (a halt, a slow IdP) from blocking another's
// work.
func QueueName(provider string) string { return QueuePrefix + provider }

// CampaignQueueSuffix ends the name of a provider's campaign queue. A dot
// cannot appear in a provider name, so no provider's queue can take it.
const CampaignQueueSuffix = ".campaigns"

// CampaignQueueName returns the queue a provider's campaign tasks wait in.
// The provider's workers take from it only when the provider's own queue is
// empty, so a reset an application asks for never waits behind a
// campaign's backlog.
func CampaignQueueName(provider string) string { return QueueName(provider) + CampaignQueueSuffix }

// Queues returns both queues of a provider: its own first, then its
// campaign queue.
func Queues(provider string) []string {
	return []string{QueueName(provider), CampaignQueueName(provider)}
}

// ProviderOfQueue names the provider a queue belongs to ("" for a queue
// that is not a provider's).
func ProviderOfQueue(queue string) string {
	p, ok := strings.CutPrefix(queue, QueuePrefix)
	if !ok || queue == WebhookQueueName {
		return ""
	}
	return strings.TrimSuffix(p, CampaignQueueSuffix)
}
