module smoke/goconsumer

go 1.25.0

require (
	github.com/aws/aws-cdk-go/awscdk/v2 v2.278.0
	github.com/aws/jsii-runtime-go v1.140.0
	github.com/example/cdk-serverless-data-pipeline-go/cdkserverlessdatapipeline v0.0.0
)

require (
	github.com/Masterminds/semver/v3 v3.5.0 // indirect
	github.com/aws/constructs-go/constructs/v10 v10.8.1 // indirect
	github.com/cdklabs/awscdk-asset-awscli-go/awscliv1/v2 v2.2.297 // indirect
	github.com/cdklabs/awscdk-asset-node-proxy-agent-go/nodeproxyagentv6/v2 v2.1.3 // indirect
	github.com/cdklabs/cloud-assembly-schema-go/awscdkcloudassemblyschema/v54 v54.11.0 // indirect
	github.com/fatih/color v1.19.0 // indirect
	github.com/mattn/go-colorable v0.1.14 // indirect
	github.com/mattn/go-isatty v0.0.24 // indirect
	github.com/yuin/goldmark v1.7.16 // indirect
	golang.org/x/lint v0.0.0-20241112194109-818c5a804067 // indirect
	golang.org/x/mod v0.39.0 // indirect
	golang.org/x/sync v0.22.0 // indirect
	golang.org/x/sys v0.47.0 // indirect
	golang.org/x/telemetry v0.0.0-20260811182544-a038080d80e5 // indirect
	golang.org/x/tools v0.49.0 // indirect
	golang.org/x/tools/cmd/godoc v0.1.0-deprecated // indirect
	golang.org/x/tools/godoc v0.1.0-deprecated // indirect
)

// The module that jsii-pacmak built (not published): dist/go of this repository.
replace github.com/example/cdk-serverless-data-pipeline-go/cdkserverlessdatapipeline => ../../../dist/go/cdkserverlessdatapipeline

// A Go consumer on the library's aws-cdk-lib floor. jsii-pacmak writes the versions the library was
// built with (aws-cdk-lib 2.278.0, awscli 2.2.297) into the library's go.mod, which would raise any
// Go consumer to them; the Go module proxy this project reaches refuses both (403), and the floor is
// what the smoke test is about: the floor's awscdk and the awscli module it requires.
replace github.com/aws/aws-cdk-go/awscdk/v2 => github.com/aws/aws-cdk-go/awscdk/v2 v2.269.0

replace github.com/cdklabs/awscdk-asset-awscli-go/awscliv1/v2 => github.com/cdklabs/awscdk-asset-awscli-go/awscliv1/v2 v2.2.292
