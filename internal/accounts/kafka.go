package accounts

import (
	"context"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha512"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/veiltelemetry/veil/internal/stream"
)

// scramIterations of the credentials this package stores (Kafka accepts
// 4096 to 16384).
const scramIterations = 8192

// SetPasswords creates or replaces the SCRAM-SHA-512 credentials of each user
// in passwords (user → password), through admin, a super user. The broker
// stores a salted hash, never the password; the salt is new on every call.
// It returns once the broker accepted every credential, or the first refusal.
func SetPasswords(ctx context.Context, admin stream.Cluster, passwords map[string]string) error {
	req := &kafka.AlterUserScramCredentialsRequest{}
	users := make([]string, 0, len(passwords))
	for u := range passwords {
		users = append(users, u)
	}
	slices.Sort(users)
	for _, user := range users {
		pw := passwords[user]
		// The client's SCRAM normalizes the password (SASLprep) before hashing;
		// printable ASCII is left as it is, so the broker's hash matches.
		if strings.IndexFunc(pw, func(r rune) bool { return r < '!' || r > '~' }) >= 0 || pw == "" {
			return fmt.Errorf("accounts: the password of %s must be printable ASCII without spaces", user)
		}
		salt := make([]byte, 32)
		if _, err := rand.Read(salt); err != nil {
			return err
		}
		salted, err := pbkdf2.Key(sha512.New, pw, salt, scramIterations, sha512.Size)
		if err != nil {
			return err
		}
		req.Upsertions = append(req.Upsertions, kafka.UserScramCredentialsUpsertion{
			Name: user, Mechanism: kafka.ScramMechanismSha512, Iterations: scramIterations, Salt: salt, SaltedPassword: salted,
		})
	}
	resp, err := admin.Client(30*time.Second).AlterUserScramCredentials(ctx, req)
	if err != nil {
		return fmt.Errorf("accounts: set Kafka passwords as %s: %w", admin.User, err)
	}
	var errs []error
	for _, r := range resp.Results {
		if r.Error != nil {
			errs = append(errs, fmt.Errorf("accounts: password of %s: %w", r.User, r.Error))
		}
	}
	return errors.Join(errs...)
}

// CheckLogin returns nil once user authenticates with password and may ask for
// metadata, retrying for up to 15s while a new credential reaches the broker.
func CheckLogin(ctx context.Context, brokers []string, user, password string) error {
	c, err := stream.NewCluster(brokers, user, password)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	for {
		err := stream.Ping(c)(ctx)
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("accounts: %s cannot log in: %w", user, err)
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// Grant creates the ACLs of rights, through admin. Creating an ACL that exists
// is a no-op, so Grant is idempotent.
func Grant(ctx context.Context, admin stream.Cluster, rights []Right) error {
	if len(rights) == 0 {
		return nil
	}
	resp, err := admin.Client(30*time.Second).CreateACLs(ctx, &kafka.CreateACLsRequest{ACLs: ACLs(rights)})
	if err != nil {
		return fmt.Errorf("accounts: create ACLs as %s: %w", admin.User, err)
	}
	var errs []error
	for i, e := range resp.Errors {
		if e != nil && i < len(rights) {
			errs = append(errs, fmt.Errorf("accounts: grant %s: %w", rights[i], e))
		}
	}
	return errors.Join(errs...)
}

// Revoke deletes the ACLs of rights, through admin.
func Revoke(ctx context.Context, admin stream.Cluster, rights []Right) error {
	if len(rights) == 0 {
		return nil
	}
	req := &kafka.DeleteACLsRequest{}
	for _, a := range ACLs(rights) {
		req.Filters = append(req.Filters, kafka.DeleteACLsFilter{
			ResourceTypeFilter: a.ResourceType, ResourceNameFilter: a.ResourceName, ResourcePatternTypeFilter: a.ResourcePatternType,
			PrincipalFilter: a.Principal, HostFilter: a.Host, Operation: a.Operation, PermissionType: a.PermissionType,
		})
	}
	resp, err := admin.Client(30*time.Second).DeleteACLs(ctx, req)
	if err != nil {
		return fmt.Errorf("accounts: delete ACLs as %s: %w", admin.User, err)
	}
	var errs []error
	for _, r := range resp.Results {
		if r.Error != nil {
			errs = append(errs, fmt.Errorf("accounts: revoke: %w", r.Error))
		}
	}
	return errors.Join(errs...)
}

// Sync makes the ACLs that the roles hold on the topics and groups named in
// rights exactly rights: it grants what is missing and revokes any other
// literal ACL of a role on those names (a right withdrawn from the plan, or
// granted by hand). ACLs of other principals, and on other names, are left
// alone. It returns what it revoked.
func Sync(ctx context.Context, admin stream.Cluster, rights []Right) (revoked []Right, err error) {
	if err := Grant(ctx, admin, rights); err != nil {
		return nil, err
	}
	want := map[Right]bool{}
	type resource struct {
		typ  kafka.ResourceType
		name string
	}
	var resources []resource
	for _, r := range rights {
		want[r] = true
		if res := (resource{r.Resource, r.Name}); !slices.Contains(resources, res) {
			resources = append(resources, res)
		}
	}
	roles := KafkaRoles()
	client := admin.Client(30 * time.Second)
	var extra []Right
	for _, res := range resources {
		resp, err := client.DescribeACLs(ctx, &kafka.DescribeACLsRequest{Filter: kafka.ACLFilter{
			ResourceTypeFilter: res.typ, ResourceNameFilter: res.name, ResourcePatternTypeFilter: kafka.PatternTypeLiteral,
			Operation: kafka.ACLOperationTypeAny, PermissionType: kafka.ACLPermissionTypeAny,
		}})
		if err == nil {
			err = resp.Error
		}
		if err != nil {
			return nil, fmt.Errorf("accounts: ACLs on %s: %w", res.name, err)
		}
		for _, rr := range resp.Resources {
			for _, a := range rr.ACLs {
				user, ok := cutUser(a.Principal)
				if !ok || !slices.Contains(roles, user) {
					continue
				}
				r := Right{Principal: user, Operation: a.Operation, Resource: rr.ResourceType, Name: rr.ResourceName}
				if a.PermissionType == kafka.ACLPermissionTypeAllow && a.Host == "*" && want[r] {
					continue
				}
				extra = append(extra, r)
				// Deleted with the exact host and permission it has.
				if err := revokeExact(ctx, client, rr, a); err != nil {
					return extra, err
				}
			}
		}
	}
	return extra, nil
}

func revokeExact(ctx context.Context, client *kafka.Client, rr kafka.ACLResource, a kafka.ACLDescription) error {
	resp, err := client.DeleteACLs(ctx, &kafka.DeleteACLsRequest{Filters: []kafka.DeleteACLsFilter{{
		ResourceTypeFilter: rr.ResourceType, ResourceNameFilter: rr.ResourceName, ResourcePatternTypeFilter: rr.PatternType,
		PrincipalFilter: a.Principal, HostFilter: a.Host, Operation: a.Operation, PermissionType: a.PermissionType,
	}}})
	if err == nil && len(resp.Results) > 0 {
		err = resp.Results[0].Error
	}
	if err != nil {
		return fmt.Errorf("accounts: revoke %s %s on %s: %w", a.Principal, a.Operation, rr.ResourceName, err)
	}
	return nil
}

func cutUser(principal string) (string, bool) { return strings.CutPrefix(principal, "User:") }
