from sora_cli.cli.entry import main

main()
