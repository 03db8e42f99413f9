package main

import (
	"bufio"
	"cmp"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"golang.org/x/term"

	"breachd/auth"
	"breachd/deploy"
	"breachd/output"
	"breachd/timespec"
)

// usersFile is --users: the local users and API tokens file; "" is users.json in --data.
var usersFile string

// usersFlag adds --users to fs, a command's flags that include --data (dataFlags), where its
// default lives.
func usersFlag(fs *pflag.FlagSet) {
	fs.StringVar(&usersFile, "users", os.Getenv("BREACHD_USERS"), "local users and API tokens file (JSON, mode 0600; env BREACHD_USERS; default: users.json in --data)")
}

// usersPath is the users file --users and --data name.
func usersPath() string {
	return cmp.Or(usersFile, filepath.Join(infra.DataDir, deploy.UsersFile))
}

func usersCommand() *cobra.Command {
	c := &cobra.Command{
		Use:   "users <command> [flags] [arguments]",
		Short: "manage the local users and API tokens of the HTTP API",
		Long: `Local users sign in to the HTTP API with a password (argon2id-hashed in the users file); API
tokens (bd_…) let scripts and 'breachd … --server' act for a user. The users file is shared
with running servers, which see a change at their next request: a disabled user's sessions
and tokens stop working then. Organisations (--org) are required for org-admin and dpo.

Roles: ` + roleNames() + `.`,
		Example: `  breachd users add kari --role dpo --org bergen.kommune.no
  echo "$PASSWORD" | breachd users add soc1 --role soc --password-stdin
  breachd users token kari --label laptop --ttl 30d
  breachd users tokens
  breachd users token revoke 3f9c0a7d12e4b6a1`,
	}
	data := pflag.NewFlagSet("", pflag.ContinueOnError)
	dataFlags(data) // only --data of it: the users commands open no engine
	c.PersistentFlags().AddFlag(data.Lookup("data"))
	usersFlag(c.PersistentFlags())
	subs := []*cobra.Command{usersAdd(), usersPasswd(), usersDisable(), usersList(), usersToken(), usersTokens()}
	return group(c, "usage: breachd users add|passwd|disable|list|token|tokens ... (see breachd users --help)",
		"users: unknown subcommand %q (want add, passwd, disable, list, token or tokens)", subs...)
}

func roleNames() string {
	names := make([]string, len(auth.Roles))
	for i, r := range auth.Roles {
		names[i] = string(r)
	}
	return strings.Join(names, ", ")
}

// usersRun opens the users file, calls run and prints what it returns in --format.
func usersRun(run func(u *auth.Users) (any, error)) error {
	u, err := auth.OpenUsers(usersPath())
	if err != nil {
		return err
	}
	v, err := run(u)
	if err != nil {
		return err
	}
	return output.Write(os.Stdout, outFormat, v)
}

// passwordStdin is --password-stdin.
var passwordStdin bool

// readPassword reads a new password: the first line of stdin with --password-stdin or when
// stdin is not a terminal; else asked for twice on the terminal without echo.
func readPassword(user string) (string, error) {
	fd := int(os.Stdin.Fd())
	if passwordStdin || !term.IsTerminal(fd) {
		line, err := bufio.NewReader(io.LimitReader(os.Stdin, 4096)).ReadString('\n')
		if err != nil && err != io.EOF {
			return "", fmt.Errorf("read the password from stdin: %w", err)
		}
		return strings.TrimRight(line, "\r\n"), nil
	}
	ask := func(prompt string) (string, error) {
		fmt.Fprint(os.Stderr, prompt)
		b, err := term.ReadPassword(fd)
		fmt.Fprintln(os.Stderr)
		return string(b), err
	}
	pw, err := ask(fmt.Sprintf("password for %s (at least %d characters): ", user, auth.MinPasswordLength))
	if err != nil {
		return "", err
	}
	again, err := ask("again: ")
	if err != nil {
		return "", err
	}
	if pw != again {
		return "", fmt.Errorf("the passwords differ; %s is unchanged", user)
	}
	return pw, nil
}

// userChange is the result of add, passwd and disable.
type userChange struct {
	Done string        `json:"done"` // added, password set, disabled
	User auth.UserInfo `json:"user"`
}

func (c userChange) WriteText(w io.Writer) error {
	_, err := fmt.Fprintf(w, "user %s: %s\n", c.User.Name, c.Done)
	return err
}

// userCommand is a users command on the user NAME.
func userCommand(use, short string, run func(u *auth.Users, name string) (any, error)) *cobra.Command {
	c := &cobra.Command{Use: use, Short: short, Args: posArgs(1, 1, "")}
	withOutput(c, output.Documents)
	c.RunE = func(_ *cobra.Command, pos []string) error {
		return usersRun(func(u *auth.Users) (any, error) { return run(u, pos[0]) })
	}
	return c
}

// changed is the userChange of user name after done.
func changed(u *auth.Users, name, done string) userChange {
	for _, ui := range u.List() {
		if ui.Name == name {
			return userChange{Done: done, User: ui}
		}
	}
	return userChange{Done: done, User: auth.UserInfo{Name: name}}
}

func usersAdd() *cobra.Command {
	var roles, orgs []string
	c := userCommand("add NAME --role R ... [--org O ...] [--password-stdin]", "add a local user", func(u *auth.Users, name string) (any, error) {
		var rs []auth.Role
		for _, s := range roles {
			r, err := auth.ParseRole(s)
			if err != nil {
				return nil, usagef("--role: %v", err)
			}
			rs = append(rs, r)
		}
		if len(rs) == 0 {
			return nil, usagef("users add: give the user's roles with --role (%s)", roleNames())
		}
		pw, err := readPassword(name)
		if err != nil {
			return nil, err
		}
		if err := u.Add(name, rs, orgs, pw); err != nil {
			return nil, err
		}
		return changed(u, name, "added"), nil
	})
	c.Flags().StringSliceVar(&roles, "role", nil, "a role: "+roleNames()+" (repeat or comma-separate)")
	c.Flags().StringSliceVar(&orgs, "org", nil, "an organisation (realm, e.g. bergen.kommune.no) of an org-admin or dpo (repeat or comma-separate)")
	c.Flags().BoolVar(&passwordStdin, "password-stdin", false, "read the password from the first line of stdin (default: ask on the terminal)")
	return c
}

func usersPasswd() *cobra.Command {
	c := userCommand("passwd NAME [--password-stdin]", "set a local user's password", func(u *auth.Users, name string) (any, error) {
		pw, err := readPassword(name)
		if err != nil {
			return nil, err
		}
		if err := u.SetPassword(name, pw); err != nil {
			return nil, err
		}
		return changed(u, name, "password set"), nil
	})
	c.Flags().BoolVar(&passwordStdin, "password-stdin", false, "read the password from the first line of stdin (default: ask on the terminal)")
	return c
}

func usersDisable() *cobra.Command {
	return userCommand("disable NAME", "disable a local user: sign-in, sessions and tokens stop working", func(u *auth.Users, name string) (any, error) {
		if err := u.Disable(name); err != nil {
			return nil, err
		}
		return changed(u, name, "disabled"), nil
	})
}

func usersList() *cobra.Command {
	c := &cobra.Command{Use: "list", Short: "the local users (no password hashes)", Args: noArgs}
	withOutput(c, output.Formats)
	c.RunE = func(*cobra.Command, []string) error {
		return usersRun(func(u *auth.Users) (any, error) {
			return output.RowsOf([]string{"name", "roles", "orgs", "disabled", "created"}, u.List(), func(ui auth.UserInfo) []any {
				roles := make([]string, len(ui.Roles))
				for i, r := range ui.Roles {
					roles[i] = string(r)
				}
				return []any{ui.Name, strings.Join(roles, ","), strings.Join(ui.Orgs, ","), ui.Disabled, ui.Created}
			}), nil
		})
	}
	return c
}

// issued is a new token: printed once.
type issued struct {
	Token string `json:"token"`
	auth.TokenInfo
}

func (t issued) WriteText(w io.Writer) error {
	_, err := fmt.Fprintf(w, "%s\n\ntoken %s for %s, expires %s. It is shown only now: store it, e.g. as BREACHD_TOKEN.\n",
		t.Token, t.ID, t.User, t.Expires.Format(time.RFC3339))
	return err
}

func usersToken() *cobra.Command {
	var label, ttl string
	c := userCommand("token NAME [--label L] [--ttl 90d]", "issue an API token for a user (printed once)", func(u *auth.Users, name string) (any, error) {
		now := time.Now()
		exp, err := timespec.Parse("+"+ttl, time.UTC, now)
		if err != nil || !exp.After(now) {
			return nil, usagef("--ttl %q: give a lifetime such as 90d or 720h (at most 366d)", ttl)
		}
		tok, info, err := u.IssueToken(name, label, exp.Sub(now))
		if err != nil {
			return nil, err
		}
		return issued{Token: tok, TokenInfo: info}, nil
	})
	c.Flags().StringVar(&label, "label", "", "what the token is for (shown by 'users tokens')")
	c.Flags().StringVar(&ttl, "ttl", "90d", "lifetime: a duration such as 90d or 720h, at most 366d")
	revoke := &cobra.Command{Use: "revoke ID", Short: "revoke an API token (ID: the id column of 'users tokens')", Args: posArgs(1, 1, "")}
	withOutput(revoke, output.Documents)
	revoke.RunE = func(_ *cobra.Command, pos []string) error {
		return usersRun(func(u *auth.Users) (any, error) {
			if err := u.RevokeToken(pos[0]); err != nil {
				return nil, err
			}
			return tokenRevoked{ID: pos[0], Revoked: true}, nil
		})
	}
	c.AddCommand(revoke)
	return c
}

// tokenRevoked is the result of users token revoke.
type tokenRevoked struct {
	ID      string `json:"id"`
	Revoked bool   `json:"revoked"`
}

func (t tokenRevoked) WriteText(w io.Writer) error {
	_, err := fmt.Fprintf(w, "token %s revoked\n", t.ID)
	return err
}

func usersTokens() *cobra.Command {
	c := &cobra.Command{Use: "tokens", Short: "the API tokens (never their secrets)", Args: noArgs}
	withOutput(c, output.Formats)
	c.RunE = func(*cobra.Command, []string) error {
		return usersRun(func(u *auth.Users) (any, error) {
			now := time.Now()
			return output.RowsOf([]string{"id", "user", "label", "state", "created", "expires"}, u.Tokens(), func(t auth.TokenInfo) []any {
				state := "active"
				switch {
				case t.Revoked:
					state = "revoked"
				case !now.Before(t.Expires):
					state = "expired"
				}
				return []any{t.ID, t.User, t.Label, state, t.Created, t.Expires}
			}), nil
		})
	}
	return c
}
