// Command veilctl is the administrator's tool: it runs as the Kafka super user
// and sets up what the pipeline's own accounts may not, the roles' passwords
// and ACLs and the topics (veilctl kafka setup), and prints who may do what
// (veilctl kafka rights).
package main

import (
	"os"

	"github.com/veiltelemetry/veil/internal/accounts"
	"github.com/veiltelemetry/veil/internal/cli"
)

func main() {
	args := os.Args[1:]
	if len(args) > 1 && args[0] == "kafka" { // "kafka setup": one command to cli.Main
		args = append([]string{args[0] + " " + args[1]}, args[2:]...)
	}
	os.Exit(cli.Main("veilctl", args, "", map[string]cli.Command{
		"kafka setup":     {Summary: "create the topics (--create-topics), set the roles' passwords from --secrets, make their ACLs exactly their rights", Register: accounts.SetupCommand},
		"kafka rights":    {Summary: "print what each role may do on the topics and groups named", Register: accounts.RightsCommand},
		"kafka passwords": {Summary: "set the roles' passwords (--admin: the super user's too) from --secrets; for a broker getting accounts", Register: accounts.PasswordsCommand},
	}))
}
