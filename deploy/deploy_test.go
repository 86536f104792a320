// Package deploy_test checks the deployment files: the compose stack, its
// Keycloak realm, and the Kubernetes overlays as kustomize renders them.
package deploy_test

import (
	"bytes"
	"debug/elf"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/resetq/resetq/internal/config"
	"github.com/resetq/resetq/internal/kcschema"
	"github.com/resetq/resetq/tasks"
)

// loadConfig loads a resetq.yaml meant for a container: the secret files it
// names under dir are made up in a temporary directory, and ${VARs} are
// given a value.
func loadConfig(t *testing.T, text, dir string) *config.Config {
	t.Helper()
	tmp := t.TempDir()
	for _, m := range regexp.MustCompile(regexp.QuoteMeta(dir)+`/([a-z0-9-]+)`).FindAllStringSubmatch(text, -1) {
		require.NoError(t, os.WriteFile(filepath.Join(tmp, m[1]), []byte("made-up-secret-"+m[1]+"-0123456789"), 0o600))
	}
	text = strings.ReplaceAll(text, dir+"/", tmp+"/")
	cfg, err := config.Parse("resetq.yaml", []byte(text), func(name string) (string, bool) {
		if strings.HasPrefix(name, "RESETQ_") {
			return "", false // the overrides stay unset
		}
		return "made-up", true
	})
	require.NoError(t, err)
	return cfg
}

// secretFiles lists the files under dir a configuration names.
func secretFiles(text, dir string) []string {
	var out []string
	for _, m := range regexp.MustCompile(regexp.QuoteMeta(dir)+`/([a-z0-9-]+)`).FindAllStringSubmatch(text, -1) {
		if !slices.Contains(out, m[1]) {
			out = append(out, m[1])
		}
	}
	slices.Sort(out)
	return out
}

func readYAML(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	require.NoError(t, yaml.Unmarshal(b, v), path)
}

// ---------------------------------------------------------------------------
// The compose stack and its realm.

type composeFile struct {
	Name     string `yaml:"name"`
	Services map[string]struct {
		Image       string            `yaml:"image"`
		Build       map[string]string `yaml:"build"`
		Command     []string          `yaml:"command"`
		Environment map[string]string `yaml:"environment"`
		Volumes     []string          `yaml:"volumes"`
		Secrets     []string          `yaml:"secrets"`
		Ports       []string          `yaml:"ports"`
		DependsOn   any               `yaml:"depends_on"`
		Healthcheck map[string]any    `yaml:"healthcheck"`
		StopGrace   string            `yaml:"stop_grace_period"`
	} `yaml:"services"`
	Secrets map[string]struct {
		File string `yaml:"file"`
	} `yaml:"secrets"`
	Volumes map[string]any `yaml:"volumes"`
}

func TestComposeStackHangsTogether(t *testing.T) {
	var c composeFile
	b, err := os.ReadFile("compose/compose.yaml")
	require.NoError(t, err)
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	require.NoError(t, dec.Decode(&c), "only the compose keys this test knows")

	var names []string
	for n := range c.Services {
		names = append(names, n)
	}
	slices.Sort(names)
	require.Equal(t, []string{"grafana", "keycloak", "mailpit", "prometheus", "redis", "resetq-api", "resetq-worker"}, names)

	// Every file the stack mounts exists.
	for name, s := range c.Services {
		for _, v := range s.Volumes {
			src := strings.Split(v, ":")[0]
			if !strings.HasPrefix(src, ".") {
				require.Contains(t, c.Volumes, src, "%s: named volume %s is declared", name, src)
				continue
			}
			_, err := os.Stat(filepath.Join("compose", src))
			require.NoError(t, err, "%s mounts %s", name, src)
		}
		for _, sec := range s.Secrets {
			require.Contains(t, c.Secrets, sec, "%s: secret %s is declared", name, sec)
		}
	}
	for name, sec := range c.Secrets {
		_, err := os.Stat(filepath.Join("compose", sec.File))
		require.NoError(t, err, "secret %s", name)
	}
	for _, svc := range []string{"resetq-worker", "resetq-api"} {
		s := c.Services[svc]
		require.Equal(t, "deploy/Dockerfile", s.Build["dockerfile"], svc)
		_, err := os.Stat(filepath.Join("compose", s.Build["context"], s.Build["dockerfile"]))
		require.NoError(t, err, "%s builds from the repository root", svc)
		require.Contains(t, s.Volumes, "./resetq.yaml:/etc/resetq/resetq.yaml:ro")
	}

	// resetq's configuration loads, names services that exist, and matches
	// the realm Keycloak imports.
	text, err := os.ReadFile("compose/resetq.yaml")
	require.NoError(t, err)
	cfg := loadConfig(t, string(text), "/run/secrets")
	require.Equal(t, "redis://redis:6379/0", cfg.Redis.URL)
	require.NotNil(t, cfg.Provider("corp"))
	corp, ok := cfg.Provider("corp").Settings.(*config.Keycloak)
	require.True(t, ok, "corp is a Keycloak")
	require.Equal(t, "http://keycloak:8080", corp.BaseURL)
	for _, f := range secretFiles(string(text), "/run/secrets") {
		require.Contains(t, c.Services["resetq-worker"].Secrets, f, "the worker is given secret %s", f)
		require.Contains(t, c.Services["resetq-api"].Secrets, f, "the API is given secret %s", f)
	}
	realm := readRealm(t)
	require.Equal(t, corp.Realm, realm["realm"])
	secret, err := os.ReadFile("compose/" + c.Secrets["keycloak-client-secret"].File)
	require.NoError(t, err)
	client := realmClient(t, realm, corp.Auth.ClientID)
	require.Equal(t, strings.TrimSpace(string(secret)), client["secret"], "resetq's secret is the realm client's")

	// Prometheus scrapes the worker where it listens; the worker gets longer
	// than its shutdown timeout to stop.
	var prom struct {
		ScrapeConfigs []struct {
			JobName       string `yaml:"job_name"`
			StaticConfigs []struct {
				Targets []string `yaml:"targets"`
			} `yaml:"static_configs"`
		} `yaml:"scrape_configs"`
	}
	readYAML(t, "prometheus/prometheus.yml", &prom)
	require.Equal(t, "resetq", prom.ScrapeConfigs[0].JobName, "the alert rules expect job=\"resetq\"")
	_, port, _ := strings.Cut(cfg.HTTP.Listen, ":")
	require.Equal(t, []string{"resetq-worker:" + port}, prom.ScrapeConfigs[0].StaticConfigs[0].Targets)
	grace, err := time.ParseDuration(c.Services["resetq-worker"].StopGrace)
	require.NoError(t, err)
	require.Greater(t, grace, cfg.Worker.ShutdownTimeout)
	require.Contains(t, c.Services["keycloak"].Command, "--import-realm")
}

func readRealm(t *testing.T) map[string]any {
	t.Helper()
	b, err := os.ReadFile("compose/keycloak/realm-corp.json")
	require.NoError(t, err)
	var realm map[string]any
	require.NoError(t, json.Unmarshal(b, &realm))
	return realm
}

func realmClient(t *testing.T, realm map[string]any, id string) map[string]any {
	t.Helper()
	for _, c := range realm["clients"].([]any) {
		if m := c.(map[string]any); m["clientId"] == id {
			return m
		}
	}
	t.Fatalf("the realm has no client %q", id)
	return nil
}

func TestTheRealmIsARealmRepresentation(t *testing.T) {
	schema, err := kcschema.Realm()
	require.NoError(t, err)
	realm := readRealm(t)
	require.NoError(t, schema.VisitJSON(realm, openapi3.MultiErrors()), "against Keycloak 26.6's RealmRepresentation")

	// A typo is caught.
	bad := map[string]any{"realm": "corp", "users": []any{map[string]any{"username": "x", "emial": "x@example.com"}}}
	require.Error(t, schema.VisitJSON(bad))

	// What resetq needs of the realm: a confidential client with a service
	// account that may manage users, SMTP, and users with addresses.
	client := realmClient(t, realm, "resetq")
	require.Equal(t, true, client["serviceAccountsEnabled"])
	require.Equal(t, false, client["publicClient"])
	var sa map[string]any
	var withEmail int
	for _, u := range realm["users"].([]any) {
		m := u.(map[string]any)
		if m["serviceAccountClientId"] == "resetq" {
			sa = m
		}
		if m["email"] != nil && m["enabled"] == true {
			withEmail++
			require.NoError(t, tasks.ValidateEmail(m["email"].(string)))
		}
	}
	require.NotNil(t, sa, "the client's service account user")
	require.Contains(t, sa["clientRoles"].(map[string]any)["realm-management"], "manage-users")
	require.Equal(t, "mailpit", realm["smtpServer"].(map[string]any)["host"])
	require.GreaterOrEqual(t, withEmail, 3)
}

// ---------------------------------------------------------------------------
// Kubernetes.

// kustomize renders an overlay with kubectl's kustomize when it is v5, else
// with kustomize v5 itself, fetched through the Go module proxy.
func kustomize(t *testing.T, dir string) []byte {
	t.Helper()
	if v, err := exec.Command("kubectl", "version", "--client").CombinedOutput(); err == nil &&
		regexp.MustCompile(`Kustomize Version: v5\.`).Match(v) {
		out, err := exec.Command("kubectl", "kustomize", dir).CombinedOutput()
		require.NoError(t, err, "kubectl kustomize %s: %s", dir, out)
		return out
	}
	cmd := exec.Command("go", "run", "sigs.k8s.io/kustomize/kustomize/v5@v5.5.0", "build", dir)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	require.NoError(t, err, "kustomize build %s: %s", dir, stderr.String())
	return out
}

// object is one rendered object: its head, and the rest to decode strictly.
type object struct {
	APIVersion string `yaml:"apiVersion"`
	Kind       string `yaml:"kind"`
	Metadata   struct {
		Name      string            `yaml:"name"`
		Namespace string            `yaml:"namespace"`
		Labels    map[string]string `yaml:"labels"`
	} `yaml:"metadata"`
	node yaml.Node
}

// The fields of the objects resetq relies on, declared so that a strict
// decode refuses a misspelt one.
type (
	meta struct {
		Name        string            `yaml:"name"`
		Namespace   string            `yaml:"namespace"`
		Labels      map[string]string `yaml:"labels"`
		Annotations map[string]string `yaml:"annotations"`
	}
	probe struct {
		HTTPGet struct {
			Path string `yaml:"path"`
			Port string `yaml:"port"`
		} `yaml:"httpGet"`
		Exec             map[string][]string `yaml:"exec"`
		PeriodSeconds    int                 `yaml:"periodSeconds"`
		FailureThreshold int                 `yaml:"failureThreshold"`
	}
	container struct {
		Name  string   `yaml:"name"`
		Image string   `yaml:"image"`
		Args  []string `yaml:"args"`
		Env   []struct {
			Name      string `yaml:"name"`
			ValueFrom struct {
				SecretKeyRef struct {
					Name string `yaml:"name"`
					Key  string `yaml:"key"`
				} `yaml:"secretKeyRef"`
			} `yaml:"valueFrom"`
		} `yaml:"env"`
		Ports []struct {
			Name          string `yaml:"name"`
			ContainerPort int    `yaml:"containerPort"`
		} `yaml:"ports"`
		LivenessProbe  *probe `yaml:"livenessProbe"`
		ReadinessProbe *probe `yaml:"readinessProbe"`
		StartupProbe   *probe `yaml:"startupProbe"`
		Resources      struct {
			Requests map[string]string `yaml:"requests"`
			Limits   map[string]string `yaml:"limits"`
		} `yaml:"resources"`
		SecurityContext struct {
			AllowPrivilegeEscalation *bool `yaml:"allowPrivilegeEscalation"`
			ReadOnlyRootFilesystem   *bool `yaml:"readOnlyRootFilesystem"`
			Capabilities             struct {
				Drop []string `yaml:"drop"`
			} `yaml:"capabilities"`
		} `yaml:"securityContext"`
		VolumeMounts []struct {
			Name      string `yaml:"name"`
			MountPath string `yaml:"mountPath"`
			ReadOnly  bool   `yaml:"readOnly"`
		} `yaml:"volumeMounts"`
	}
	deployment struct {
		APIVersion string `yaml:"apiVersion"`
		Kind       string `yaml:"kind"`
		Metadata   meta   `yaml:"metadata"`
		Spec       struct {
			Replicas *int `yaml:"replicas"`
			Selector struct {
				MatchLabels map[string]string `yaml:"matchLabels"`
			} `yaml:"selector"`
			Strategy struct {
				Type          string         `yaml:"type"`
				RollingUpdate map[string]int `yaml:"rollingUpdate"`
			} `yaml:"strategy"`
			Template struct {
				Metadata meta `yaml:"metadata"`
				Spec     struct {
					ServiceAccountName            string `yaml:"serviceAccountName"`
					AutomountServiceAccountToken  *bool  `yaml:"automountServiceAccountToken"`
					TerminationGracePeriodSeconds int    `yaml:"terminationGracePeriodSeconds"`
					SecurityContext               struct {
						RunAsNonRoot   *bool             `yaml:"runAsNonRoot"`
						RunAsUser      int               `yaml:"runAsUser"`
						RunAsGroup     int               `yaml:"runAsGroup"`
						FSGroup        int               `yaml:"fsGroup"`
						SeccompProfile map[string]string `yaml:"seccompProfile"`
					} `yaml:"securityContext"`
					TopologySpreadConstraints []struct {
						MaxSkew           int    `yaml:"maxSkew"`
						TopologyKey       string `yaml:"topologyKey"`
						WhenUnsatisfiable string `yaml:"whenUnsatisfiable"`
						LabelSelector     struct {
							MatchLabels map[string]string `yaml:"matchLabels"`
						} `yaml:"labelSelector"`
					} `yaml:"topologySpreadConstraints"`
					Containers []container `yaml:"containers"`
					Volumes    []struct {
						Name      string            `yaml:"name"`
						ConfigMap map[string]string `yaml:"configMap"`
						Secret    map[string]string `yaml:"secret"`
						EmptyDir  map[string]string `yaml:"emptyDir"`
					} `yaml:"volumes"`
				} `yaml:"spec"`
			} `yaml:"template"`
		} `yaml:"spec"`
	}
	scaledObject struct {
		APIVersion string `yaml:"apiVersion"`
		Kind       string `yaml:"kind"`
		Metadata   meta   `yaml:"metadata"`
		Spec       struct {
			ScaleTargetRef  map[string]string `yaml:"scaleTargetRef"`
			MinReplicaCount int               `yaml:"minReplicaCount"`
			MaxReplicaCount int               `yaml:"maxReplicaCount"`
			PollingInterval int               `yaml:"pollingInterval"`
			CooldownPeriod  int               `yaml:"cooldownPeriod"`
			Triggers        []struct {
				Type              string            `yaml:"type"`
				Metadata          map[string]string `yaml:"metadata"`
				AuthenticationRef map[string]string `yaml:"authenticationRef"`
			} `yaml:"triggers"`
		} `yaml:"spec"`
	}
)

func render(t *testing.T, overlay string) []object {
	t.Helper()
	out := kustomize(t, filepath.Join("kubernetes", "overlays", overlay))
	dec := yaml.NewDecoder(bytes.NewReader(out))
	var objs []object
	for {
		var n yaml.Node
		err := dec.Decode(&n)
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err)
		var o object
		require.NoError(t, n.Decode(&o))
		require.NotEmpty(t, o.APIVersion, "every object has an apiVersion")
		require.NotEmpty(t, o.Kind)
		require.NotEmpty(t, o.Metadata.Name, o.Kind)
		o.node = n
		objs = append(objs, o)
	}
	return objs
}

func find(t *testing.T, objs []object, kind, name string) object {
	t.Helper()
	for _, o := range objs {
		if o.Kind == kind && (name == "" || o.Metadata.Name == name || strings.HasPrefix(o.Metadata.Name, name+"-")) {
			return o
		}
	}
	t.Fatalf("no %s %s", kind, name)
	return object{}
}

func decodeStrict(t *testing.T, o object, v any) {
	t.Helper()
	b, err := yaml.Marshal(&o.node)
	require.NoError(t, err)
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	require.NoError(t, dec.Decode(v), "%s %s", o.Kind, o.Metadata.Name)
}

func TestKubernetesOverlays(t *testing.T) {
	for overlay, ns := range map[string]string{"dev": "resetq-dev", "production": "resetq"} {
		t.Run(overlay, func(t *testing.T) {
			objs := render(t, overlay)
			for _, o := range objs {
				require.Equal(t, ns, o.Metadata.Namespace, "%s %s", o.Kind, o.Metadata.Name)
			}
			cm := find(t, objs, "ConfigMap", "resetq-config")
			var cmv struct {
				Data map[string]string `yaml:"data"`
			}
			require.NoError(t, cm.node.Decode(&cmv))
			text := cmv.Data["resetq.yaml"]
			cfg := loadConfig(t, text, "/run/secrets/resetq")
			needSecrets := secretFiles(text, "/run/secrets/resetq")

			for _, name := range []string{"resetq-worker", "resetq-api"} {
				var d deployment
				decodeStrict(t, find(t, objs, "Deployment", name), &d)
				pod := d.Spec.Template.Spec
				require.Equal(t, d.Spec.Selector.MatchLabels["app.kubernetes.io/name"], d.Spec.Template.Metadata.Labels["app.kubernetes.io/name"])
				require.True(t, *pod.SecurityContext.RunAsNonRoot, name)
				require.Equal(t, 65532, pod.SecurityContext.RunAsUser, "distroless nonroot")
				require.Equal(t, "RuntimeDefault", pod.SecurityContext.SeccompProfile["type"])
				require.False(t, *pod.AutomountServiceAccountToken, "no Kubernetes API access")
				require.Greater(t, time.Duration(pod.TerminationGracePeriodSeconds)*time.Second, cfg.Worker.ShutdownTimeout,
					"%s: the grace period outlasts the shutdown timeout", name)
				require.Len(t, pod.Containers, 1)
				c := pod.Containers[0]
				require.Regexp(t, `^ghcr\.io/resetq/resetq:v?[0-9a-z.]+$`, c.Image)
				require.Equal(t, "/etc/resetq/resetq.yaml", c.Args[2])
				require.Equal(t, "/healthz", c.LivenessProbe.HTTPGet.Path)
				require.Equal(t, "/readyz", c.ReadinessProbe.HTTPGet.Path)
				require.Equal(t, c.Ports[0].Name, c.ReadinessProbe.HTTPGet.Port)
				require.False(t, *c.SecurityContext.AllowPrivilegeEscalation)
				require.True(t, *c.SecurityContext.ReadOnlyRootFilesystem)
				require.Equal(t, []string{"ALL"}, c.SecurityContext.Capabilities.Drop)
				require.NotEmpty(t, c.Resources.Requests["cpu"])
				require.NotEmpty(t, c.Resources.Limits["memory"])
				mounts := map[string]string{}
				for _, m := range c.VolumeMounts {
					mounts[m.Name] = m.MountPath
				}
				require.Equal(t, map[string]string{"config": "/etc/resetq", "secrets": "/run/secrets/resetq", "tmp": "/tmp"}, mounts)
				for _, v := range pod.Volumes {
					if v.ConfigMap != nil {
						require.Equal(t, cm.Metadata.Name, v.ConfigMap["name"], "the generated ConfigMap, by its hashed name")
					}
					if v.Secret != nil {
						require.True(t, strings.HasPrefix(v.Secret["secretName"], "resetq-secrets"))
					}
				}
				var port int
				switch name {
				case "resetq-worker":
					_, p, _ := strings.Cut(cfg.HTTP.Listen, ":")
					_, _ = fmt.Sscan(p, &port)
				default:
					_, p, _ := strings.Cut(cfg.API.Listen, ":")
					_, _ = fmt.Sscan(p, &port)
				}
				require.Equal(t, port, c.Ports[0].ContainerPort, "%s listens where its probes and Service look", name)
				for _, e := range c.Env {
					if ref := e.ValueFrom.SecretKeyRef; ref.Key != "" {
						needSecrets = append(needSecrets, ref.Key)
					}
				}

				// Its Service, PodDisruptionBudget and NetworkPolicy select it.
				sel := d.Spec.Template.Metadata.Labels["app.kubernetes.io/name"]
				for _, kind := range []string{"Service", "PodDisruptionBudget", "NetworkPolicy"} {
					var o struct {
						Spec struct {
							Selector    map[string]any `yaml:"selector"`
							PodSelector map[string]any `yaml:"podSelector"`
						} `yaml:"spec"`
					}
					n := find(t, objs, kind, name).node
					require.NoError(t, n.Decode(&o))
					got := fmt.Sprint(o.Spec.Selector, o.Spec.PodSelector)
					require.Contains(t, got, sel, "%s %s selects the pods", kind, name)
				}
			}

			// Every secret the configuration and the pods name exists.
			switch overlay {
			case "dev":
				var s struct {
					Data map[string]string `yaml:"data"`
				}
				n := find(t, objs, "Secret", "resetq-secrets").node
				require.NoError(t, n.Decode(&s))
				for _, k := range needSecrets {
					require.Contains(t, s.Data, k)
				}
				find(t, objs, "Deployment", "redis")
			case "production":
				// Created by hand (see the overlay): the command it documents
				// names every key.
				k, err := os.ReadFile("kubernetes/overlays/production/kustomization.yaml")
				require.NoError(t, err)
				for _, key := range needSecrets {
					require.Contains(t, string(k), "--from-file="+key, "the documented secret has %s", key)
				}
				require.True(t, strings.HasPrefix(cfg.Redis.URL, "redis-sentinel://"))

				var so scaledObject
				decodeStrict(t, find(t, objs, "ScaledObject", "resetq-worker"), &so)
				require.Equal(t, "resetq-worker", so.Spec.ScaleTargetRef["name"])
				require.GreaterOrEqual(t, so.Spec.MinReplicaCount, 1, "pending-only scaling cannot see active or retrying tasks")
				var lists []string
				for _, tr := range so.Spec.Triggers {
					require.Equal(t, "redis-sentinel", tr.Type)
					require.Equal(t, "resetq", tr.Metadata["sentinelMaster"])
					lists = append(lists, tr.Metadata["listName"])
				}
				var want []string
				for _, p := range cfg.Providers {
					want = append(want, "asynq:{"+tasks.QueueName(p.Name)+"}:pending")
				}
				require.ElementsMatch(t, want, lists, "one trigger per provider queue")
				find(t, objs, "TriggerAuthentication", "resetq-redis")

				var sm struct {
					Spec struct {
						Selector struct {
							MatchLabels map[string]string `yaml:"matchLabels"`
						} `yaml:"selector"`
						Endpoints []map[string]any `yaml:"endpoints"`
					} `yaml:"spec"`
				}
				n := find(t, objs, "ServiceMonitor", "resetq-worker").node
				require.NoError(t, n.Decode(&sm))
				require.Equal(t, "resetq-worker", sm.Spec.Selector.MatchLabels["app.kubernetes.io/name"])
				require.Equal(t, "metrics", sm.Spec.Endpoints[0]["port"])

				var rule struct {
					Spec struct {
						Groups []map[string]any `yaml:"groups"`
					} `yaml:"spec"`
				}
				n = find(t, objs, "PrometheusRule", "resetq").node
				require.NoError(t, n.Decode(&rule))
				var alerts struct {
					Groups []map[string]any `yaml:"groups"`
				}
				readYAML(t, "prometheus/alerts.yml", &alerts)
				require.Equal(t, alerts.Groups, rule.Spec.Groups, "the same rules promtool tests")
			}
		})
	}
}

// ---------------------------------------------------------------------------
// The image. No Docker engine runs here, so the image itself is not built;
// what it ships is: the Dockerfile runs `make static`, which this test runs
// too, and checks.

func TestTheImageShipsAStaticStampedBinary(t *testing.T) {
	df, err := os.ReadFile("Dockerfile")
	require.NoError(t, err)
	require.Contains(t, string(df), "make static")
	require.Regexp(t, `(?m)^FROM gcr\.io/distroless/static-debian12:nonroot$`, string(df))
	require.Regexp(t, `(?m)^USER nonroot:nonroot$`, string(df))
	require.NotRegexp(t, `(?m)^HEALTHCHECK`, string(df), "Kubernetes probes /healthz and /readyz")
	mod, err := os.ReadFile("../go.mod")
	require.NoError(t, err)
	toolchain := regexp.MustCompile(`(?m)^toolchain go(\S+)$`).FindSubmatch(mod)
	require.NotNil(t, toolchain, "go.mod names the toolchain releases are built with")
	require.Regexp(t, `(?m)^ARG GO_VERSION=`+regexp.QuoteMeta(string(toolchain[1]))+`$`, string(df),
		"the image is built with go.mod's toolchain")

	bin := filepath.Join(t.TempDir(), "resetq")
	out, err := exec.Command("make", "-C", "..", "static", "OUT="+bin, "VERSION=v9.9.9-test", "REVISION=0123abc").CombinedOutput()
	require.NoError(t, err, "%s", out)
	f, err := elf.Open(bin)
	require.NoError(t, err)
	defer f.Close()
	for _, p := range f.Progs {
		require.NotEqual(t, elf.PT_INTERP, p.Type, "static: no dynamic loader")
	}
	libs, err := f.ImportedLibraries()
	require.NoError(t, err)
	require.Empty(t, libs)
	require.Nil(t, f.Section(".symtab"), "stripped")
	v, err := exec.Command(bin, "version").CombinedOutput()
	require.NoError(t, err)
	require.Contains(t, string(v), "resetq v9.9.9-test (revision 0123abc")
	st, err := os.Stat(bin)
	require.NoError(t, err)
	t.Logf("the image's binary: %.1f MB (the distroless static base adds about 2 MB)", float64(st.Size())/(1<<20))
}
