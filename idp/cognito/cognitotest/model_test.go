package cognitotest_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/stretchr/testify/require"

	"github.com/resetq/resetq/idp"
	"github.com/resetq/resetq/idp/cognito"
	"github.com/resetq/resetq/idp/cognito/cognitotest"
	"github.com/resetq/resetq/idp/internal/emulator"
	"github.com/resetq/resetq/idp/internal/openapitest"
)

// The service model ships inside the AWS SDK for Go v1; the go command
// fetches that module through the module proxy (it is not a dependency of
// resetq's build).
const (
	sdkModule = "github.com/aws/aws-sdk-go@v1.55.8"
	modelFile = "models/apis/cognito-idp/2016-04-18/api-2.json"
)

type shape struct {
	Type     string   `json:"type"`
	Required []string `json:"required"`
	Members  map[string]struct {
		Shape string `json:"shape"`
	} `json:"members"`
	Member  struct{ Shape string } `json:"member"`
	Key     struct{ Shape string } `json:"key"`
	Value   struct{ Shape string } `json:"value"`
	Enum    []string               `json:"enum"`
	Min     *float64               `json:"min"`
	Max     *float64               `json:"max"`
	Pattern string                 `json:"pattern"`
}

type model struct {
	Metadata struct {
		TargetPrefix string `json:"targetPrefix"`
	} `json:"metadata"`
	Operations map[string]struct {
		Input  struct{ Shape string }   `json:"input"`
		Output struct{ Shape string }   `json:"output"`
		Errors []struct{ Shape string } `json:"errors"`
	} `json:"operations"`
	Shapes map[string]shape `json:"shapes"`
}

func loadModel(t *testing.T) *model {
	t.Helper()
	b, err := os.ReadFile(openapitest.ModuleFile(t, sdkModule, modelFile))
	require.NoError(t, err)
	var m model
	require.NoError(t, json.Unmarshal(b, &m))
	return &m
}

// check holds a decoded JSON value to a shape of the model.
func (m *model) check(name string, v any, path string) error {
	s, ok := m.Shapes[name]
	if !ok {
		return fmt.Errorf("%s: no shape %s in the model", path, name)
	}
	switch s.Type {
	case "structure":
		obj, ok := v.(map[string]any)
		if !ok {
			return fmt.Errorf("%s: want an object (%s), have %T", path, name, v)
		}
		for _, r := range s.Required {
			if _, ok := obj[r]; !ok {
				return fmt.Errorf("%s: %s is required by %s", path, r, name)
			}
		}
		for k, mv := range obj {
			mem, ok := s.Members[k]
			if !ok {
				return fmt.Errorf("%s: %s is not a member of %s", path, k, name)
			}
			if err := m.check(mem.Shape, mv, path+"."+k); err != nil {
				return err
			}
		}
	case "list":
		arr, ok := v.([]any)
		if !ok {
			return fmt.Errorf("%s: want a list (%s), have %T", path, name, v)
		}
		if err := bounds(s, float64(len(arr)), path); err != nil {
			return err
		}
		for i, e := range arr {
			if err := m.check(s.Member.Shape, e, fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
	case "map":
		obj, ok := v.(map[string]any)
		if !ok {
			return fmt.Errorf("%s: want a map (%s), have %T", path, name, v)
		}
		for k, e := range obj {
			if err := m.check(s.Key.Shape, k, path+"{key}"); err != nil {
				return err
			}
			if err := m.check(s.Value.Shape, e, path+"."+k); err != nil {
				return err
			}
		}
	case "string":
		str, ok := v.(string)
		if !ok {
			return fmt.Errorf("%s: want a string (%s), have %T", path, name, v)
		}
		if len(s.Enum) > 0 && !slices.Contains(s.Enum, str) {
			return fmt.Errorf("%s: %q is not one of %s's %v", path, str, name, s.Enum)
		}
		if err := bounds(s, float64(utf8.RuneCountInString(str)), path); err != nil {
			return err
		}
		if re, err := regexp.Compile(`^(?:` + s.Pattern + `)$`); s.Pattern != "" && err == nil && !re.MatchString(str) {
			return fmt.Errorf("%s: %q does not match %s's pattern %s", path, str, name, s.Pattern)
		}
	case "integer", "long":
		n, ok := v.(float64)
		if !ok || n != math.Trunc(n) {
			return fmt.Errorf("%s: want a whole number (%s), have %v", path, name, v)
		}
		return bounds(s, n, path)
	case "boolean":
		if _, ok := v.(bool); !ok {
			return fmt.Errorf("%s: want a boolean (%s), have %T", path, name, v)
		}
	case "timestamp":
		if _, ok := v.(float64); !ok {
			return fmt.Errorf("%s: want epoch seconds (%s), have %T", path, name, v)
		}
	default:
		return fmt.Errorf("%s: shape %s of type %s is not checked here", path, name, s.Type)
	}
	return nil
}

func bounds(s shape, n float64, path string) error {
	if s.Min != nil && n < *s.Min || s.Max != nil && n > *s.Max {
		return fmt.Errorf("%s: %v is outside [%v, %v]", path, n, s.Min, s.Max)
	}
	return nil
}

// commonErrors are the exceptions any AWS JSON service answers, which the
// model lists for no operation.
var commonErrors = []string{"UnrecognizedClientException", "InvalidSignatureException", "AccessDeniedException",
	"MissingAuthenticationTokenException", "ThrottlingException", "ServiceUnavailable", "SerializationException"}

// validate checks one logged call against the model: the operation, its
// input, and its output or exception.
func (m *model) validate(t *testing.T, r emulator.Request) {
	t.Helper()
	op := strings.TrimPrefix(r.Header.Get("X-Amz-Target"), m.Metadata.TargetPrefix+".")
	o, ok := m.Operations[op]
	require.True(t, ok, "%s is not an operation of the model", op)
	require.Equal(t, "application/x-amz-json-1.1", r.Header.Get("Content-Type"))
	var in any
	require.NoError(t, json.Unmarshal(r.Body, &in))
	require.NoError(t, m.check(o.Input.Shape, in, op), "the request")
	var out map[string]any
	require.NoError(t, json.Unmarshal(r.Response, &out), "%s answered %s", op, r.Response)
	if r.Status == http.StatusOK {
		require.NoError(t, m.check(o.Output.Shape, any(out), op), "the answer: %s", r.Response)
		return
	}
	typ, _ := out["__type"].(string)
	declared := slices.ContainsFunc(o.Errors, func(e struct{ Shape string }) bool { return e.Shape == typ })
	require.True(t, declared || slices.Contains(commonErrors, typ), "%s answered %s, which the model does not give it", op, typ)
	require.Equal(t, typ+":", r.ResponseHeader.Get("X-Amzn-Errortype"))
}

// TestEveryCallMatchesTheServiceModel drives resetq's Cognito client (the
// AWS SDK) through everything it does against the emulator, by both
// methods, and checks every call and every answer against the service
// model, exceptions included.
func TestEveryCallMatchesTheServiceModel(t *testing.T) {
	t.Parallel()
	m := loadModel(t)
	s := cognitotest.NewServer()
	t.Cleanup(s.Close)
	s.AddKey("AKIAMODELTEST", "model/secret")
	pool := s.AddPool("staff")
	client := s.AddClient(pool, "client-secret")
	bob := s.AddUser(pool, "bob@example.com")
	off := s.AddUser(pool, "off@example.com")
	s.Set(off, func(u *cognitotest.User) { u.Enabled = false })
	unverified := s.AddUser(pool, "unverified@example.com")
	s.Set(unverified, func(u *cognitotest.User) { u.EmailVerified = false })

	aws := aws.Config{Region: cognitotest.Region, Credentials: credentials.NewStaticCredentialsProvider("AKIAMODELTEST", "model/secret", "")}
	ctx := context.Background()
	for _, method := range []string{cognito.MethodAdmin, cognito.MethodForgot} {
		s.Set(bob, func(u *cognitotest.User) { u.Status = "CONFIRMED" })
		p, err := cognito.New(cognito.Config{AWS: aws, UserPoolID: pool.ID, Method: method, ClientID: client, ClientSecret: "client-secret",
			EndpointURL: s.URL(), Timeout: 5 * time.Second})
		require.NoError(t, err)
		_, err = p.Check(ctx)
		require.NoError(t, err)
		for _, ref := range []idp.UserRef{
			{Email: "bob@example.com"}, {Username: "bob@example.com"}, {ID: s.Get(bob).Sub},
			{Email: "nobody@example.com"}, {Username: "nobody"}, {ID: "00000000-0000-0000-0000-000000000000"},
			{Email: `quote"d@example.com`},
		} {
			_ = p.Reset(ctx, idp.Request{User: ref})
		}
		// Past the lookup, the reset itself refuses these.
		for _, u := range []*cognitotest.User{off, unverified} {
			_ = p.Reset(ctx, idp.Request{User: idp.UserRef{Email: s.Get(u).Email}})
		}
		s.Throttle(1)
		_ = p.Reset(ctx, idp.Request{User: idp.UserRef{Email: "bob@example.com"}})
	}
	s.Deny(cognitotest.EndpointDescribePool)
	p, err := cognito.New(cognito.Config{AWS: aws, UserPoolID: pool.ID, EndpointURL: s.URL()})
	require.NoError(t, err)
	_, err = p.Check(ctx)
	require.Equal(t, idp.Permission, idp.AsError(err).Kind, "%v", err)

	seen := map[string]int{}
	for _, r := range s.Requests() {
		m.validate(t, r)
		seen[string(r.Endpoint)]++
	}
	for _, ep := range []emulator.Endpoint{cognitotest.EndpointListUsers, cognitotest.EndpointAdminGetUser, cognitotest.EndpointAdminReset,
		cognitotest.EndpointForgot, cognitotest.EndpointDescribePool} {
		require.Positive(t, seen[string(ep)], "%s was exercised", ep)
	}
}

// A request signed with another secret is refused, as AWS refuses it.
func TestTheSignatureIsChecked(t *testing.T) {
	t.Parallel()
	s := cognitotest.NewServer()
	t.Cleanup(s.Close)
	s.AddKey("AKIASIGTEST", "the-right-secret")
	pool := s.AddPool("staff")
	for secret, want := range map[string]idp.Kind{"the-right-secret": idp.UserNotFound, "a-wrong-secret": idp.Credentials} {
		p, err := cognito.New(cognito.Config{AWS: aws.Config{Region: cognitotest.Region,
			Credentials: credentials.NewStaticCredentialsProvider("AKIASIGTEST", secret, "")}, UserPoolID: pool.ID, EndpointURL: s.URL()})
		require.NoError(t, err)
		err = p.Reset(context.Background(), idp.Request{User: idp.UserRef{Email: "nobody@example.com"}})
		require.Equal(t, want, idp.AsError(err).Kind, "%s: %v", secret, err)
	}
}
