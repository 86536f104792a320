package producer_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/resetq/resetq/producer"
	"github.com/resetq/resetq/tasks"
)

// An application asks for a reset, waits for how it ended, and learns that
// asking again with the same idempotency key sends nothing new.
func Example() {
	ctx := context.Background()
	rdb := redis.NewClient(&redis.Options{Addr: redisAddr}) // the Redis the workers use
	defer rdb.Close()

	client, err := producer.NewClient(producer.Config{
		Redis:     rdb,
		Providers: []producer.Provider{{Name: "corp", Type: "keycloak", MaxRetries: 10}},
	})
	if err != nil {
		log.Fatal(err)
	}

	req := producer.Request{
		Provider:       "corp",
		User:           tasks.User{Email: "alice@example.com"},
		IdempotencyKey: "HD-4411", // the helpdesk ticket: asking twice resets once
		Meta:           map[string]string{"ticket": "HD-4411"},
	}
	res, err := client.Enqueue(ctx, req)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("queue:", res.Queue, "duplicate:", res.Duplicate)

	wctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	outcome, err := client.Wait(wctx, res.TaskID)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("outcome:", outcome.Outcome, "attempts:", outcome.Attempts)

	again, err := client.Enqueue(ctx, req)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("duplicate:", again.Duplicate, "same task:", again.TaskID == res.TaskID)
	// Output:
	// queue: resetq-corp duplicate: false
	// outcome: succeeded attempts: 1
	// duplicate: true same task: true
}

// A key already used for another request is refused: nothing is queued,
// and the caller picks a new key for the new request.
func ExampleClient_Enqueue_conflict() {
	ctx := context.Background()
	rdb := redis.NewClient(&redis.Options{Addr: redisAddr})
	defer rdb.Close()
	client, err := producer.NewClient(producer.Config{Redis: rdb, Providers: []producer.Provider{{Name: "corp"}}})
	if err != nil {
		log.Fatal(err)
	}
	_, err = client.Enqueue(ctx, producer.Request{Provider: "corp", User: tasks.User{Email: "alice@example.com"}, IdempotencyKey: "HD-5150"})
	if err != nil {
		log.Fatal(err)
	}
	_, err = client.Enqueue(ctx, producer.Request{Provider: "corp", User: tasks.User{Email: "bob@example.com"}, IdempotencyKey: "HD-5150"})
	fmt.Println(errors.Is(err, producer.ErrIdempotencyConflict))
	// Output:
	// true
}

// A request that cannot be right is refused before it reaches a queue, with
// an error that names the field.
func ExampleClient_Enqueue_invalid() {
	rdb := redis.NewClient(&redis.Options{Addr: redisAddr})
	defer rdb.Close()
	client, err := producer.NewClient(producer.Config{Redis: rdb, Providers: []producer.Provider{{Name: "corp"}}})
	if err != nil {
		log.Fatal(err)
	}
	_, err = client.Enqueue(context.Background(), producer.Request{Provider: "corp", User: tasks.User{Email: "alice"}})
	fmt.Println(err)
	// Output:
	// invalid request: user.email: "alice" is not an email address
}

// A security team checks a file before a campaign: a dry run reads it once,
// stores nothing, and names every row the campaign would refuse or skip.
// StartCampaign takes the same request and reader.
func ExampleClient_ScanCampaign() {
	rdb := redis.NewClient(&redis.Options{Addr: redisAddr})
	defer rdb.Close()
	client, err := producer.NewClient(producer.Config{Redis: rdb, Providers: []producer.Provider{{Name: "corp"}}})
	if err != nil {
		log.Fatal(err)
	}
	file := strings.NewReader("email,team\nalice@example.com,eng\nalice(at)example.com,eng\nALICE@example.com,ops\n")
	scan, err := client.ScanCampaign(file, producer.CampaignRequest{Provider: "corp", Source: "users.csv"})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("rows:", scan.Rows, "users:", scan.Users(), "invalid:", scan.Invalid, "duplicates:", scan.Duplicates)
	for _, p := range scan.Problems {
		fmt.Printf("line %d: %s\n", p.Line, p.Reason)
	}
	// Output:
	// rows: 3 users: 1 invalid: 1 duplicates: 1
	// line 3: invalid_user
	// line 4: duplicate_row
}
