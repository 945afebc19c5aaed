from sora_cli.cli.app import main

main()
