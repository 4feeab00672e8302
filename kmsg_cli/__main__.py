from kmsg_cli.app import main

main()
