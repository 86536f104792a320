package tasks

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
