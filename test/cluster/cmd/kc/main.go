// Command kc is a multi-call binary holding the upstream Kubernetes components
// the dev cluster needs. Each process runs exactly one component (picked by
// argv[0] or by the first argument): the components share process-wide globals
// (signal handler, feature gates, metrics registry) and cannot share a process.
package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"
	"k8s.io/component-base/cli"
	kubectlcmd "k8s.io/kubectl/pkg/cmd"
	apiserver "k8s.io/kubernetes/cmd/kube-apiserver/app"
	controllermanager "k8s.io/kubernetes/cmd/kube-controller-manager/app"
	scheduler "k8s.io/kubernetes/cmd/kube-scheduler/app"
	kubelet "k8s.io/kubernetes/cmd/kubelet/app"
)

func commandFor(name string) *cobra.Command {
	switch name {
	case "kube-apiserver", "apiserver":
		return apiserver.NewAPIServerCommand()
	case "kube-controller-manager", "controller-manager":
		return controllermanager.NewControllerManagerCommand()
	case "kube-scheduler", "scheduler":
		return scheduler.NewSchedulerCommand()
	case "kubelet":
		return kubelet.NewKubeletCommand(context.Background())
	case "kubectl":
		return kubectlcmd.NewDefaultKubectlCommand()
	}
	return nil
}

func main() {
	name := filepath.Base(os.Args[0])
	cmd := commandFor(name)
	if cmd == nil && len(os.Args) > 1 {
		cmd = commandFor(os.Args[1])
		if cmd != nil {
			os.Args = append([]string{os.Args[1]}, os.Args[2:]...)
		}
	}
	if cmd == nil {
		fmt.Fprintln(os.Stderr, "usage: kc {kube-apiserver|kube-controller-manager|kube-scheduler|kubelet|kubectl} [flags]")
		os.Exit(2)
	}
	cmd.SetArgs(os.Args[1:])
	os.Exit(cli.Run(cmd))
}
